"""The app's words in English and Simplified Chinese, through gradio's own i18n (gr.I18n).

English is the language the code is written in. A translation is data: one JSON file per
other language in `assets/i18n/` (`zh-CN.json`), keyed by the English text itself, so a
translator sees what to translate:

    {"strings":   {"Model": "模型", ...},                      exact texts
     "templates": {"Layer {n} of {total}": "第 {n} 层，共 {total} 层", ...}}

A template's `{name}` stands for any text (a number, a model name); that text is itself
translated when it is one of the strings (a tab name inside a message).

How a text reaches the browser: gradio's front end translates a prop (label, info,
placeholder, value, a choice's display name) that holds a marker `__i18n__{"key": …}` into
the page's current language, and translates it again when the language changes, so the
results on screen stay. The key is a short hash of the English text; gr.I18n gets
{key: English} and {key: Chinese}. Only texts known when the page loads can switch live (the
front end receives the dictionaries once); a message made while the page is open is
translated on the server into the language the page had then (`translate_now`).
"""
from __future__ import annotations

import contextvars
import functools
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
from gradio.i18n import I18nData

from ..api.languages import I18N_DIR

SOURCE = "en"
LOCALES = ("en", "zh-CN")                  # what the picker offers, in its order
NAMES = {"en": "English", "zh-CN": "中文"}
COOKIE = "mm_lang"                         # the page's language, for messages made later
MARK = "__i18n__"
_PLACE = re.compile(r"\{(\w*)\}")

# The language of the event being handled (from the page's cookie), for server-made texts.
CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("mminspect_locale", default=SOURCE)


def key_of(text: str) -> str:
    """The i18n key of an English text: short, stable, and free of '}' (the front end reads a
    marker's JSON up to its first '}'). Two 32-bit checksums: a name, not a security check
    (file hashes all go through models/bundled.py)."""
    raw = text.encode("utf-8")
    return f"mm.{zlib.crc32(raw):08x}{zlib.adler32(raw):08x}"


def marker(text: str) -> str:
    """The string gradio's front end translates (str of gr.I18n's own I18nData)."""
    return str(I18nData(key_of(text)))


def is_marker(value) -> bool:
    return isinstance(value, str) and MARK in value


def normalise(locale: str | None) -> str | None:
    """A locale the app has ('zh', 'zh-Hans-CN', 'zh-cn' -> 'zh-CN'; 'en-GB' -> 'en'), else None."""
    low = (locale or "").strip().lower()
    if low.startswith("zh"):
        return "zh-CN"
    if low.startswith("en"):
        return "en"
    return None


@dataclass
class Template:
    text: str                               # the English template
    pattern: re.Pattern
    names: tuple[str, ...]


def _template(text: str) -> Template:
    parts, names, pos = [], [], 0
    for m in _PLACE.finditer(text):
        parts.append(re.escape(text[pos:m.start()]))
        name = m.group(1) or f"_{len(names)}"
        parts.append(f"(?P<{name}>.+?)")
        names.append(name)
        pos = m.end()
    parts.append(re.escape(text[pos:]))
    return Template(text, re.compile("".join(parts) + r"\Z", re.S), tuple(names))


@dataclass
class Catalog:
    """One language's translations: exact strings and templates."""
    locale: str
    strings: dict[str, str] = field(default_factory=dict)
    templates: dict[str, str] = field(default_factory=dict)
    compiled: list[tuple[Template, str]] = field(default_factory=list)

    def __post_init__(self):
        # longer templates first: the most specific wins when two match
        self.compiled = [(_template(en), tr) for en, tr in
                         sorted(self.templates.items(), key=lambda kv: -len(kv[0]))]

    def lookup(self, text: str) -> str | None:
        """The translation of `text`, exact or through a template; None when there is none."""
        if text in self.strings:
            return self.strings[text]
        stripped = text.strip()
        if stripped != text and stripped in self.strings:
            return text.replace(stripped, self.strings[stripped])
        for tmpl, tr in self.compiled:
            m = tmpl.pattern.match(text)
            if m is None:
                continue
            out = tr
            for name in tmpl.names:
                value = m.group(name)
                value = self.lookup(value) or value        # a known text inside is translated too
                # a named place once or more; an unnamed one ("{}") in order, once
                out = (out.replace("{}", value, 1) if name.startswith("_")
                       else out.replace("{" + name + "}", value))
            if out != text:                 # a template that changed nothing did not translate
                return out
        return None


def read_catalog(locale: str, folder: Path | None = None) -> Catalog:
    path = Path(folder or I18N_DIR) / f"{locale}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return Catalog(locale, dict(data.get("strings", {})), dict(data.get("templates", {})))


@functools.lru_cache(maxsize=None)
def catalog(locale: str) -> Catalog:
    """`locale`'s file and its lessons' own texts (a lesson carries its translation)."""
    found = read_catalog(locale)
    found.strings.update(lesson_strings(locale))
    return found


def lesson_strings(locale: str) -> dict[str, str]:
    from .. import api
    from ..api.languages import lesson_translation
    out: dict[str, str] = {}
    for lesson in api.list_lessons():
        out.update(lesson_translation(lesson, locale))
    return out


class Registry:
    """The texts of one app that the page can switch live: {key: {locale: text}}. Filled while
    the app's components are localized; handed to launch() as gr.I18n."""

    def __init__(self):
        self.texts: dict[str, dict[str, str]] = {}

    def add(self, english: str, translations: dict[str, str]) -> str:
        """Register `english` with its translations; its marker."""
        k = key_of(english)
        if self.texts.get(k, {}).get(SOURCE, english) != english:       # a 64-bit name clash
            raise ValueError(f"two texts share the i18n key {k}: {english[:40]!r}")
        self.texts.setdefault(k, {SOURCE: english}).update(translations)
        return marker(english)

    def knows(self, english: str) -> bool:
        return key_of(english) in self.texts

    def i18n(self) -> gr.I18n:
        by_locale: dict[str, dict[str, str]] = {loc: {} for loc in LOCALES}
        for k, texts in self.texts.items():
            for loc, text in texts.items():
                by_locale.setdefault(loc, {})[k] = text
        return gr.I18n(**by_locale)


def translations(text: str) -> dict[str, str]:
    """{locale: translation} of an English text for every other language that has one."""
    out = {}
    for loc in LOCALES:
        if loc == SOURCE:
            continue
        tr = catalog(loc).lookup(text)
        if tr is not None:
            out[loc] = tr
    return out


def translate_now(text: str, locale: str | None = None) -> str:
    """`text` in `locale` (default: the language of the event being handled), or as it is."""
    loc = locale or CURRENT.get()
    if loc == SOURCE or not isinstance(text, str) or not text:
        return text
    cat = catalog(loc)
    tr = cat.lookup(text)
    if tr is None and "\n\n" in text:       # a composed text: paragraph by paragraph
        parts = [_paragraph(cat, p) for p in text.split("\n\n")]
        tr = "\n\n".join(p or q for p, q in zip(parts, text.split("\n\n"))) if any(parts) else None
    return text if tr is None else tr


def _paragraph(cat: Catalog, text: str) -> str | None:
    """One paragraph translated, its leading icon (⚠️, ℹ️) kept; None when unknown."""
    icon, sep, rest = text.partition(" ")
    found = cat.lookup(text)
    if found is None and sep and icon in ("⚠️", "ℹ️", "✅", "❌"):
        inner = cat.lookup(rest)
        found = None if inner is None else f"{icon} {inner}"
    return found


def locale_of_request(request) -> str:
    """The page's language: its cookie (set by the page, see i18n_page), else the browser's
    Accept-Language, else English."""
    headers = getattr(request, "headers", None) or {}
    cookie = headers.get("cookie", "") if hasattr(headers, "get") else ""
    for part in cookie.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and normalise(value):
            return normalise(value)
    accept = headers.get("accept-language", "") if hasattr(headers, "get") else ""
    for part in accept.split(","):
        loc = normalise(part.split(";")[0])
        if loc:
            return loc
    return SOURCE
