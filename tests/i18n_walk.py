"""Every tab's outputs rendered as a page in one language sees them: the app's own events
(page load, each tab opened, each button pressed, and what follows them) run in process
through gradio's process_api — the same path and the same output boundary as a browser's
request, the language sent by the page's cookie — and the texts a person reads in their
outputs collected: Markdown and messages, figure titles, axes, legends and notes, table
headers and word cells."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
import json
import re
import time

import gradio as gr
from gradio.state_holder import SessionState

from mminspect.ui.i18n import COOKIE
from mminspect.ui.i18n_app import visible_text

_PLACES = re.compile(r"%\{[^}]*\}")
_TAGS = re.compile(r"<[^>]*>")
_NUMBERED = re.compile(r" \(\d+\)$")                # "Saliency (2)" on the agreement map

# Buttons that only write a file or a link, or stop a run: they show nothing to translate.
SKIP = ("Save", "Copy link", "Stop", "Download")


def _english(text: str) -> str:
    return visible_text(text) if isinstance(text, str) else ""


def _events(demo: gr.Blocks):
    """The events a visitor starts: load, a tab opened, a button pressed (each with the
    events that follow it, in order)."""
    fns = list(demo.fns.values())
    after = {}
    for fn in fns:
        if fn.trigger_after is not None:
            after.setdefault(fn.trigger_after, []).append(fn)
    for fn in fns:
        if fn.fn is None or fn.trigger_after is not None:  # a browser-only event, or a follower
            continue
        kinds = {(type(demo.blocks.get(t)).__name__ if t in demo.blocks else "Blocks", e)
                 for t, e in fn.targets}
        starts = any(k in (("Button", "click"), ("Tab", "select"), ("Blocks", "load"))
                     for k in kinds)
        label = " ".join(str(getattr(demo.blocks.get(t), "value", "")) for t, _ in fn.targets
                         if isinstance(demo.blocks.get(t), gr.Button))
        if starts and not any(label.startswith(s) for s in SKIP):
            chain, todo = [fn], [fn]
            while todo:
                nxt = after.get(todo.pop(0)._id, [])
                chain += nxt
                todo += nxt
            yield chain


def initial_values(demo: gr.Blocks) -> dict[int, object]:
    """What each component holds when the page opens (as the browser sends it back)."""
    config = demo.get_config_file()
    return {c["id"]: c.get("props", {}).get("value") for c in config["components"]}


class Page:
    """A fresh page in `locale`: its session state, and each component's value as the browser
    holds it (updated by the outputs, so a later event reads what an earlier one wrote)."""

    def __init__(self, demo: gr.Blocks, locale: str):
        self.demo, self.values = demo, initial_values(demo)
        self.request = gr.Request(headers={"cookie": f"{COOKIE}={locale}"}, query_params={},
                                  session_hash="i18n-walk")
        self.state = SessionState(demo)
        self.choices: dict[int, list] = {}
        # its own thread: after a browser test, Playwright's loop is running in this one and
        # run_until_complete here would refuse ("another loop is running")
        self.loop, self.thread = asyncio.new_event_loop(), ThreadPoolExecutor(1)

    def run(self, fn, **overrides):
        """Run one event (its inputs: the page's values, `overrides` by elem_id-less block id
        given as `b<id>`); [(block, value as the page receives it)], or [(None, error)]."""
        inputs = [overrides.get(f"b{b._id}", self.values.get(b._id)) for b in fn.inputs]
        try:
            out = self.thread.submit(self.loop.run_until_complete, self.demo.process_api(
                fn, inputs, state=self.state, request=self.request, session_hash="i18n-walk",
                event_data=None)).result()
        except Exception as exc:                    # a handled error is a message
            return [(None, f"(error {type(exc).__name__}: {exc})")]
        pairs = list(zip(fn.outputs, out.get("data", [])))
        for block, value in pairs:
            if not (isinstance(value, dict) and value.get("__type__") == "update"):
                self.values[block._id] = value
            else:
                if "value" in value:
                    self.values[block._id] = value["value"]
                if isinstance(value.get("choices"), list):
                    self.choices[block._id] = value["choices"]
        return pairs

    def close(self):
        self.thread.submit(self.loop.close).result()
        self.thread.shutdown()


def walk(demo: gr.Blocks, locale: str, budget_s: float = 600.0):
    """Run every event of a fresh page in `locale`, then open and answer every lesson; yield
    (event name, output block, value as the page receives it)."""
    page, start = Page(demo, locale), time.monotonic()
    try:
        for chain in _events(demo):
            for fn in (f for f in chain if f.fn is not None):     # js-only steps: the browser's
                if time.monotonic() - start > budget_s:
                    return
                for block, value in page.run(fn):
                    yield fn.name, block, value
        yield from _lessons(demo, page)
    finally:
        page.close()


def _lessons(demo: gr.Blocks, page: Page):
    """Each lesson opened from the picker and answered (the first choice: right or wrong,
    either verdict is a text to translate)."""
    fns = list(demo.fns.values())
    opens = [f for f in fns if f.name == "on_open" and f.inputs
             and isinstance(f.inputs[0], gr.Dropdown)]
    answer = next((f for f in fns if f.name == "on_answer"), None)
    if not opens or answer is None:
        return
    picker = opens[0].inputs[0]
    for _shown, title in picker.choices:
        for block, value in page.run(opens[0], **{f"b{picker._id}": title}):
            yield "on_open", block, value
        guess = next((b for b in answer.inputs if isinstance(b, gr.Radio)), None)
        options = [c[1] if isinstance(c, (list, tuple)) else c
                   for c in (page.choices.get(guess._id) or [])] if guess else []
        for block, value in page.run(answer, **({f"b{guess._id}": options[0]} if options else {})):
            yield "on_answer", block, value


def hover_words(text: str) -> str:
    """What a person reads of a figure's text: a hover template's places (%{y}: a token, a
    number) and its tags left out, each line alone."""
    return _TAGS.sub("\n", _PLACES.sub(" ", text))


def _ticks_and_hover_texts(fig: dict):
    """The method names among a figure's tick values (a token is data, a method's name is
    the app's), and the hover texts the app wrote (a trace whose hover shows its `text`
    only: "layer 2, head 3<br>mean change +0.1")."""
    from mminspect.ui.i18n_hover import method_names
    names = method_names()
    for i, trace in enumerate(fig.get("data") or ()):
        for axis in ("x", "y"):
            values = trace.get(axis)
            for v in values if isinstance(values, list) else ():
                if isinstance(v, str) and _NUMBERED.sub("", v) in names:
                    yield f"figure data.{i}.{axis} tick", v
        if trace.get("hoverinfo") == "text":
            for row in trace.get("text") or ():
                for v in row if isinstance(row, list) else [row]:
                    if isinstance(v, str):
                        yield f"figure data.{i}.text hover", hover_words(v)


def shown_strings(block, value):
    """(where, text) a person reads in one output value as the page receives it."""
    if isinstance(value, dict) and value.get("__type__") == "update":
        for prop in ("label", "info", "placeholder"):
            if isinstance(value.get(prop), str):
                yield prop, value[prop]
        value = value.get("value")
    if isinstance(block, gr.Plot) and isinstance(value, dict) and value.get("plot"):
        from mminspect.ui.i18n_outputs import figure_texts
        fig = json.loads(value["plot"])
        for path, text in figure_texts(fig):
            words = hover_words(text) if path.endswith("hovertemplate") else text.replace("<br>", "\n")
            yield f"figure {path}", _english(words)
        yield from _ticks_and_hover_texts(fig)
    elif isinstance(block, gr.Dataframe) and isinstance(value, dict):
        for h in value.get("headers") or []:
            if isinstance(h, str):
                yield "table header", h
        for row in value.get("data") or []:
            for cell in row:
                if isinstance(cell, str):
                    yield "table cell", cell
    elif isinstance(block, (gr.Markdown, gr.HTML)) and isinstance(value, str):
        yield type(block).__name__, _english(value)
    elif block is None and isinstance(value, str):
        yield "error", value
