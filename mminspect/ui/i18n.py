"""The app's words in English and Simplified Chinese, through gradio's own i18n (gr.I18n).

English is the language the code is written in. A translation is data: one JSON file per
other language in `assets/i18n/` (`zh-CN.json`, and `zh-CN.outputs.json` for the words
of figures, tables and results), keyed by the English text itself, so a
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


# Places that hold free text by nature (a user's sentence, a lesson's paragraph, a model's
# name, a list of prompts): their value may stay as it is, however long. Any other place
# whose value is not itself translated must be short (a number, a token, a head's name):
# "Layer {layer}, head {head}" must not pass "Layer 2, head 7, averaged over …" as
# translated with its English tail.
# A place in quotes (“{text}”, `{t}`, '{t}') holds the user's or a model's words: free too.
FREE = {"text", "title", "first", "summary", "setup", "question", "verdict", "measured", "why",
        "next", "sentence", "which", "prompts", "steps", "parts", "options", "chain", "best",
        "label", "answer", "query", "second", "example", "caption", "guesses", "name", "names",
        "what", "model", "bundled", "kind", "tab", "others", "prompt", "key", "key2", "who",
        "method", "baseline"}
_QUOTES = "“'\"`"
_ENGLISH_WORD = re.compile(r"\b[A-Za-z]{2,}\b")


def _too_english(tmpl: "Template", name: str, value: str) -> bool:
    return name not in tmpl.free and len(_ENGLISH_WORD.findall(value)) >= 4


@dataclass
class Template:
    text: str                               # the English template
    pattern: re.Pattern
    names: tuple[str, ...]
    # no word of its own ("{title} — {sentence}"): it translates only when a part it holds
    # is known, or it would pass any sentence with a dash in it as translated
    weak: bool = False
    free: frozenset = frozenset()           # places whose value may be any text (FREE, quoted)


def _template(text: str) -> Template:
    parts, names, pos, free = [], [], 0, set()
    weak = not re.search(r"[A-Za-z]", _PLACE.sub("", text))
    for m in _PLACE.finditer(text):
        parts.append(re.escape(text[pos:m.start()]))
        name = m.group(1) or f"_{len(names)}"
        if name in FREE or (m.start() > 0 and text[m.start() - 1] in _QUOTES):
            free.add(name)
        # free text may run over lines (a lesson's sentence); a number or a name may not, so
        # "… {seconds} s" cannot swallow the next line of a list
        parts.append(f"(?P<{name}>[\\s\\S]+?)" if name in free else f"(?P<{name}>.+?)")
        names.append(name)
        pos = m.end()
    parts.append(re.escape(text[pos:]))
    return Template(text, re.compile("".join(parts) + r"\Z"), tuple(names), weak, frozenset(free))


@dataclass
class Catalog:
    """One language's translations: exact strings and templates."""
    locale: str
    strings: dict[str, str] = field(default_factory=dict)
    templates: dict[str, str] = field(default_factory=dict)
    compiled: list[tuple[Template, str]] = field(default_factory=list)
    memo: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self):
        # longer templates first: the most specific wins when two match
        self.compiled = [(_template(en), tr) for en, tr in
                         sorted(self.templates.items(), key=lambda kv: -len(kv[0]))]

    def lookup(self, text: str) -> str | None:
        """The translation of `text`, exact or through a template; None when there is none.
        Remembered: a figure asks for the same notes and names again on every redraw."""
        if text in self.memo:
            return self.memo[text]
        found = self._lookup(text)
        if len(self.memo) < 20_000:
            self.memo[text] = found
        return found

    def _lookup(self, text: str) -> str | None:
        if text in self.strings:
            return self.strings[text]
        stripped = text.strip()
        if stripped != text and stripped in self.strings:
            return text.replace(stripped, self.strings[stripped])
        for tmpl, tr in self.compiled:
            m = tmpl.pattern.match(text)
            if m is None:
                continue
            out, known = tr, False
            for name in tmpl.names:
                value = m.group(name)
                inner = self.lookup(value)                  # a known text inside is translated too
                known = known or inner is not None
                if inner is None and _too_english(tmpl, name, value):
                    break
                value = inner or value
                # a named place once or more; an unnamed one ("{}") in order, once
                out = (out.replace("{}", value, 1) if name.startswith("_")
                       else out.replace("{" + name + "}", value))
            else:
                if out != text and (known or not tmpl.weak):    # one that changed nothing did not
                    return out
        return None


def read_catalog(locale: str, folder: Path | None = None) -> Catalog:
    """`<locale>.json` (the page's own words) and its companions `<locale>.<part>.json` (the
    words of figures, tables and results: `zh-CN.outputs.json`), merged."""
    folder = Path(folder or I18N_DIR)
    strings, templates = {}, {}
    for path in [folder / f"{locale}.json", *sorted(folder.glob(f"{locale}.*.json"))]:
        data = json.loads(path.read_text(encoding="utf-8"))
        strings.update(data.get("strings", {}))
        templates.update(data.get("templates", {}))
    return Catalog(locale, strings, templates)


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
    elif tr is None and "\n" in text.strip():  # a list
        tr = _paragraph(cat, text)
    return text if tr is None else tr


def _paragraph(cat: Catalog, text: str) -> str | None:
    """One paragraph translated, its leading icon (⚠️, ℹ️) kept; None when unknown."""
    icon, sep, rest = text.partition(" ")
    found = cat.lookup(text)
    if found is None and sep and icon in ("⚠️", "ℹ️", "✅", "❌"):
        inner = cat.lookup(rest)
        found = None if inner is None else f"{icon} {inner}"
    if found is None and "\n" in text.strip():       # a list or a table: line by line
        lines = text.split("\n")
        done = [_line(cat, line) for line in lines]
        found = "\n".join(d or q for d, q in zip(done, lines)) if any(done) else None
    return found


def _line(cat: Catalog, line: str) -> str | None:
    """One line of a list or of a Markdown table (cell by cell), its line-break spaces kept."""
    bare = line.rstrip()
    if not bare:
        return None
    if bare.startswith("|") and bare.endswith("|"):
        cells = bare[1:-1].split("|")
        done = [cat.lookup(c.strip()) for c in cells]
        if not any(done):
            return None
        return "|" + "|".join(c if d is None else c.replace(c.strip(), d)
                              for c, d in zip(cells, done)) + "|" + line[len(bare):]
    found = _paragraph(cat, bare)
    return None if found is None else found + line[len(bare):]


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
