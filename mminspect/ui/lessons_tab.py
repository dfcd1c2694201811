"""The Lessons tab: pick a lesson (a file in assets/lessons), read it, predict, then see the
answer measured live on the real model, with the panel that shows it. "Try it in How
attention works" sets that tab up with the lesson's model, input, layer, head and query.

Opening a lesson runs its measure once (a model event) and keeps the answer in `gr.State`
hidden; checking a guess only reveals it (no model work)."""
from __future__ import annotations

import html

import gradio as gr

from .. import api, figures
from ..api.lessons import STEPS
from ..figures import clip as clip_figures
from ..figures import glassbox, glassbox_parts
from ..types import InputError
from .context import AppContext
from .events import MESSAGE, Components, bind, picker, reporter
from .gpu import gpu
from .share import LinkField, TabLink, wire_url

HIDDEN = "Answer the question first: the measured answer and its picture appear here."
ATTENTION_IN = ["model", "custom", "tower", "text", "example", "layer", "head", "query", "step"]


def _md(text: str) -> str:
    return html.escape(text.strip(), quote=False)


def lesson_list_markdown(lessons) -> str:
    return "**Lessons** — pick one above:\n\n" + "\n".join(
        f"{i}. **{_md(x.title)}** — {_md(x.summary.strip().split('. ')[0].rstrip('.'))}."
        for i, x in enumerate(lessons, 1))


def setup_markdown(lesson) -> str:
    st = lesson.state
    where = (f"image tower on “{_md(st.example or '')}”" if st.tower == "image" else f"text “{_md(st.text)}”")
    head = "" if lesson.state.panel in ("clip", "compare") and st.layer == st.head == 0 else \
        f", layer {st.layer}, head {st.head}"
    query = f", query “{_md(st.query)}”" if st.query else ""
    query += f", second text “{_md(st.compare_to)}”" if st.compare_to else ""
    return (f"## {_md(lesson.title)}\n\n{_md(lesson.summary)}\n\n*Set up:* {_md(st.model)}, "
            f"{where}{head}{query}.")


def panel_figure(panel: str, measured, title: str):
    """The lesson's picture, from the evidence its measure kept."""
    ev = measured.evidence
    if panel == "embeddings" and "embeddings" in ev:
        return glassbox_parts.embeddings_figure(ev["embeddings"])
    if panel in glassbox.STEP_FIGURES and "trace" in ev:
        return glassbox.STEP_FIGURES[panel](ev["trace"], ev.get("query", 0))
    if panel == "heads" and "summary" in ev:
        return figures.head_summary_figure(ev["summary"])
    if panel == "clip" and "clip" in ev:
        return clip_figures.prediction_steps_figure(ev["clip"])
    if panel == "compare" and "series" in ev:
        return glassbox_parts.compare_bars_figure(ev["tokens"], ev["series"], ev.get("title", title))
    return figures.note_figure("This lesson has no picture for its measure.")


def on_open(ctx: AppContext, title, progress=gr.Progress()) -> dict:
    """Open a lesson: its text and question; the answer is measured now, shown later."""
    if not title:
        raise InputError("Pick a lesson from the list.")
    lesson = api.get_lesson(title)
    report = reporter(progress)
    report(0.2, f"Measuring on {lesson.state.model}")
    measured = api.run_lesson(lesson)
    state = {"lesson": lesson, "measured": measured}
    return {"state": state, "intro": setup_markdown(lesson),
            "question": f"**Predict first:** {_md(lesson.question)}\n\n*{HIDDEN}*",
            "answer": gr.update(choices=list(measured.choices), value=None, visible=True),
            # the plot is cleared, not a note: plotly.js failed redrawing a note figure into a
            # multi-axis one ("axis scaling"), and the page stopped applying updates
            "result": "", "plot": gr.update(value=None, visible=True), "try": gr.update(visible=True)}


def on_answer(ctx: AppContext, state, guess) -> dict:
    """Score the guess; reveal the measured number, why, what to try next, and the picture."""
    if state is None:
        raise InputError("Pick a lesson first.")
    lesson, m = state["lesson"], state["measured"]
    if guess not in m.choices:
        raise InputError("Pick one of the answers first, then press Check my answer.")
    verdict = "✅ **Right.**" if guess == m.answer else f"❌ **Not quite** — the answer is “{_md(m.answer)}”."
    result = (f"{verdict}\n\n**Measured on the real model:** {_md(m.text)}\n\n**Why:** {_md(lesson.why)}"
              f"\n\n**Try this next:** {_md(lesson.next)}")
    return {"result": result, "plot": panel_figure(lesson.state.panel, m, lesson.title),
            "question": f"**Predict first:** {_md(lesson.question)}"}          # the hint goes


def on_try(ctx: AppContext, state) -> dict:
    """Set up "How attention works" with the lesson's state, and open that tab."""
    if state is None:
        raise InputError("Pick a lesson first.")
    st = state["lesson"].state
    out = {"model": st.model, "custom": "", "tower": st.tower, "layer": st.layer, "head": st.head,
           "text": st.text.strip().splitlines()[0] if st.tower == "image" else st.text,
           "query": gr.update(choices=[(st.query, st.query)] if st.query else [], value=st.query),
           "tabs": gr.Tabs(selected="attention")}
    if st.example:
        out["example"] = st.example
    if st.panel in STEPS:
        out["step"] = st.panel
    return out


# A lesson's link names it by title; picking it (by hand or from a link) opens it, so no
# button needs pressing.
LINK = TabLink("lessons", "text", (
    LinkField("lesson", "pick", "choice", choices=tuple(x.title for x in api.list_lessons())),), "")


def build(ctx: AppContext, attention: dict, tabs: gr.Tabs, trace_handler) -> dict:
    """Lay out the Lessons tab. attention: the "How attention works" components it sets up;
    trace_handler: that tab's trace event (run after the set-up)."""
    lessons = api.list_lessons()
    c = Components(state=gr.State(None))
    with gr.Row():
        c["pick"] = gr.Dropdown([x.title for x in lessons], value=None, label="Lesson", scale=3)
        c[MESSAGE] = gr.Markdown(elem_classes="mm-message")
    c["intro"] = gr.Markdown(lesson_list_markdown(lessons))
    c["question"] = gr.Markdown()
    c["answer"] = gr.Radio([], label="Your answer", visible=False)       # shown with a lesson
    check = gr.Button("Check my answer", variant="primary")
    c["result"] = gr.Markdown()
    c["plot"] = gr.Plot(show_label=False, visible=False)
    c["try"] = gr.Button("Try it in “How attention works”", visible=False)
    wire(ctx, c, check, attention, tabs, trace_handler)
    wire_url(c, LINK)
    return c


def wire(ctx: AppContext, c: dict, check, attention: dict, tabs, trace_handler) -> None:
    comps = picker(c)

    model_event = {"concurrency_id": "model", "concurrency_limit": ctx.model_concurrency}
    open_out = ["state", "intro", "question", "answer", "result", "plot", "try", MESSAGE]
    # change, not input: a lesson named by a link opens the same way as one picked by hand
    c["pick"].change(bind(gpu(on_open), ctx, open_out, release=True), [c["pick"]],
                    comps(open_out), api_name="open_lesson", **model_event)
    answer_out = ["result", "plot", "question", MESSAGE]
    check.click(bind(on_answer, ctx, answer_out), comps(["state", "answer"]), comps(answer_out),
                concurrency_limit=None, api_visibility="private")
    targets = {**{k: attention[k] for k in ATTENTION_IN}, "tabs": tabs, MESSAGE: c[MESSAGE]}
    names = [*ATTENTION_IN, "tabs", MESSAGE]
    event = c["try"].click(bind(on_try, ctx, names), [c["state"]], picker(targets)(names),
                           concurrency_limit=None, api_visibility="private")
    event.then(*trace_handler, api_visibility="private", **model_event)
