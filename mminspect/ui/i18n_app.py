"""Put a built app's words into both languages (see i18n.py for the data and the markers).

`localize(demo)` runs once after build_app composed the Blocks, so no tab module has to know
about languages:
- every shown text of every component (a label, an info line, a placeholder, a Markdown or a
  button's text, a tab's name, a choice's display name) that has a translation is swapped for
  its marker; the English stays the fallback;
- every event's outputs go through the same swap at the boundary (`postprocess_data`): a
  Markdown, a label or a choice known when the page loaded switches live; a message made by
  a handler (its numbers and names inside) is translated on the server into the page's
  language;
- launch() gets the dictionaries (gr.I18n) and the page's script (i18n_page.py).

A value a user edits or a handler reads back (a textbox's text, a dropdown's value) is never
swapped: only what is shown.
"""
from __future__ import annotations

import functools
import html
import re

import gradio as gr

from .i18n import (CURRENT, Registry, is_marker, key_of, locale_of_request, translate_now,
                   translations)
from .i18n_outputs import localize_markup, localize_shown, translate_first_headers
from .i18n_page import HEAD, language_picker_events, names_script

# Components whose value is text to read (not an input): their value is translated.
SHOWN_VALUE = (gr.Markdown, gr.HTML, gr.Button, gr.UploadButton, gr.DownloadButton)
WITH_CHOICES = (gr.Radio, gr.Dropdown, gr.CheckboxGroup)
PROPS = ("label", "info", "placeholder")
_TAG = re.compile(r"<style.*?</style>|<script.*?</script>|<[^>]+>", re.S | re.I)


def visible_text(text: str) -> str:
    """What a person reads of a Markdown/HTML text (tags, styles and scripts dropped)."""
    return html.unescape(_TAG.sub(" ", text)).strip()


def shown_texts(demo: gr.Blocks):
    """(component, where, text) for every text the built app shows: the walk the
    localization and its test share. where: 'label', 'info', 'placeholder', 'value' or
    'choice'."""
    for block in demo.blocks.values():
        for prop in PROPS:
            text = getattr(block, prop, None)
            if isinstance(text, str) and text.strip():
                yield block, prop, text
        if isinstance(block, SHOWN_VALUE) and isinstance(block.value, str) and block.value.strip():
            yield block, "value", block.value
        if isinstance(block, WITH_CHOICES):
            for shown, _value in block.choices or []:
                if isinstance(shown, str) and shown.strip():
                    yield block, "choice", shown


def _swap(registry: Registry, text: str) -> str:
    """The marker of `text` when it has a translation (registered for the page), else `text`."""
    if not isinstance(text, str) or not text.strip() or is_marker(text):
        return text
    if registry.knows(text):
        return registry.add(text, {})
    found = translations(text)
    return registry.add(text, found) if found else text


def localize(demo: gr.Blocks) -> Registry:
    """Swap every translatable shown text of `demo` for its marker; wire the language picker,
    the output boundary and launch(). Returns the registry of texts (for tests)."""
    registry = Registry()
    _register_runtime_texts(registry)       # first: the lesson list is also a component's text
    named = set()                  # tab names and button texts: the page finds them by text
    for block, where, text in list(shown_texts(demo)):
        if where == "choice":
            block.choices = [(_swap(registry, s) if s == text else s, v) for s, v in block.choices]
        else:
            setattr(block, where, _swap(registry, text))
            if isinstance(block, (gr.Tab, gr.Button)) and is_marker(getattr(block, where)):
                named.add(key_of(text))
    registry.named = named
    demo.mm_i18n = registry
    _wrap_outputs(demo, registry)
    _wrap_launch(demo, registry)
    translate_first_headers(demo)           # a table's headers before its first run
    return registry


def _register_runtime_texts(registry: Registry) -> None:
    """Texts handlers show later but that are known now (lesson texts and their choices):
    registered so that they switch live too."""
    from .i18n_lessons import lesson_texts
    for english, found in lesson_texts():
        registry.add(english, found)


# ---- the output boundary -------------------------------------------------------------------
def localize_output(registry: Registry, block, value):
    """One output value of an event, in the page's language (see the module's note)."""
    if isinstance(block, (gr.Plot, gr.Dataframe)):         # figures and tables: i18n_outputs
        value = localize_shown(block, value)               # (an update's label: below)
    if isinstance(value, dict) and value.get("__type__") == "update":
        out = dict(value)
        for prop in PROPS:
            if isinstance(out.get(prop), str):
                out[prop] = _live(registry, out[prop])
        if isinstance(block, WITH_CHOICES) and isinstance(out.get("choices"), list):
            out["choices"] = [_choice(registry, c) for c in out["choices"]]
        if isinstance(block, SHOWN_VALUE) and isinstance(out.get("value"), str):
            out["value"] = _live(registry, out["value"])
        return out
    if isinstance(block, SHOWN_VALUE) and isinstance(value, str):
        return _live(registry, value)
    return value


def _live(registry: Registry, text: str) -> str:
    """A marker when the page knows the text (it switches live), else the text translated now."""
    if not text or is_marker(text):
        return text
    if registry.knows(text):
        return registry.add(text, {})
    now = translate_now(text)
    icon, sep, rest = text.partition(" ")       # the message line: "⚠️ <message>"
    if now == text and sep and icon in ("⚠️", "ℹ️"):
        return f"{icon} {html.escape(translate_now(html.unescape(rest)), quote=False)}"
    return localize_markup(text) if now == text else now      # HTML: text by text


def _choice(registry: Registry, choice):
    """A choice as gradio takes it (a value, or (shown, value)), shown in the page's language;
    the value itself stays what the handler reads."""
    shown, value = (choice if isinstance(choice, (tuple, list)) and len(choice) == 2
                    else (choice, choice))
    if not isinstance(shown, str):
        return choice
    if registry.knows(shown):
        return (registry.add(shown, {}), value)
    tr = translate_now(shown)
    return choice if tr == shown else (tr, value)


def _wrap_outputs(demo: gr.Blocks, registry: Registry) -> None:
    """Every event's outputs through localize_output, in the language of the page that sent
    the event (its cookie); the same language for the handler's own toasts (CURRENT)."""
    postprocess, process_api = demo.postprocess_data, demo.process_api

    async def postprocess_localized(block_fn, predictions, state):
        outs = list(block_fn.outputs)
        if len(outs) == 1 and not block_fn.batch:
            predictions = localize_output(registry, outs[0], predictions)
        elif isinstance(predictions, (list, tuple)):
            predictions = [localize_output(registry, b, v) for b, v in zip(outs, predictions)] \
                + list(predictions[len(outs):])
        return await postprocess(block_fn, predictions, state)

    @functools.wraps(process_api)
    async def process_api_localized(*args, **kwargs):
        request = kwargs.get("request", args[3] if len(args) > 3 else None)
        token = CURRENT.set(locale_of_request(request))
        try:
            return await process_api(*args, **kwargs)
        finally:
            CURRENT.reset(token)

    demo.postprocess_data = postprocess_localized
    demo.process_api = process_api_localized


def _wrap_launch(demo: gr.Blocks, registry: Registry) -> None:
    """launch() with the dictionaries and the page's script, wherever the app is launched."""
    launch = demo.launch

    @functools.wraps(launch)
    def launch_localized(*args, **kwargs):
        kwargs.setdefault("i18n", registry.i18n())
        names = {k: registry.texts[k] for k in sorted(getattr(registry, "named", ()))}
        kwargs["head"] = (kwargs.get("head") or "") + HEAD + names_script(names)
        return launch(*args, **kwargs)

    demo.launch = launch_localized


def add_language_picker(demo: gr.Blocks) -> gr.Radio:
    """The language picker (call inside the Blocks): English / 中文, defaulting to the
    browser's language or the link's `lang=`; switching keeps everything on the page."""
    from .i18n import LOCALES, NAMES
    picker = gr.Radio([(NAMES[x], x) for x in LOCALES], value=LOCALES[0], label="Language · 语言",
                      elem_id="mm-language", container=False, scale=0, min_width=200)
    language_picker_events(demo, picker)
    return picker
