"""The "How attention works" tab: one real head of a real model, step by step.

`on_trace` runs the model ONCE (`api.trace_head`, plus `api.trace_embeddings` where it
exists) and keeps the traces in `gr.State`; picking another step or query token only redraws
the one figure on screen. With *predict first* on, a step's figure stays hidden until the
student has answered its question; the answer is scored against the trace's own numbers.
"Break it on purpose" (attention_break.py) re-runs the head with a classic mistake.
"""
from __future__ import annotations

import threading

import gradio as gr

from .. import api
from ..api.text import tower_shape
from ..api.fusion_trace import image_share_note as fusion_note
from ..api.lesson_measures import query_index
from ..types import InputError
from . import attention_break
from .attention_steps import SENTENCES, STEP_KEYS, TITLES, figure, question
from .context import AppContext
from .events import MESSAGE, Components, bind, on_any, picker, reporter
from .gpu import gpu
from .model_picker import model_label, picker_choices, resolve_model
from .share import LinkField, TabLink, build_exports, fresh_copy, wire_exports, wire_url

HIDDEN = "Your guess first: pick an answer above. The figure appears after."
STEP_OUT = ["plot", "sentence", "question", "answer"]


def badge(max_error: float) -> str:
    """The check that this is the model's own computation, e.g. "max error 4.8e-7"."""
    mantissa, exp = f"{max_error:.1e}".split("e")
    return (f"✅ **This is the model's own computation**: the weights and the attention output "
            f"recomputed here match the model's to a max error of {mantissa}e{int(exp)}.")


def _query_choices(tokens) -> list[tuple[str, int]]:
    return [(f"{t} ({i})", i) for i, t in enumerate(tokens)]


def step_view(state: dict, step: str, predict: bool) -> dict:
    """The outputs of one step: its figure (or a note while the guess is pending), sentence
    and question. Only this step's figure is built."""
    tr, q = state["trace"], state["query"]
    qu = question(step, tr, state.get("emb"), q)
    revealed = step in state["revealed"]
    out = {"sentence": f"**{TITLES[step]}** — {SENTENCES[step]}",
           # no gr.Group around the question: a group shown and hidden while its own event
           # runs left later events' outputs unapplied in the browser (seen with gradio 6.31)
           "question": (f"**Predict:** {figures_text(qu.text)}"
                        + (f"\n\n{state['scores'][step]}" if step in state["scores"] else ""))
                       if predict else "",
           "answer": gr.update(choices=list(qu.choices), value=state["guesses"].get(step),
                               visible=predict)}
    # hidden: the plot is cleared (not a note figure): plotly.js failed redrawing a note into a
    # multi-axis figure ("axis scaling"), which left the page's later updates unapplied
    hide = predict and not revealed
    out["plot"] = None if hide else figure(step, tr, state.get("emb"), q)
    if hide:
        out["question"] += f"\n\n*{HIDDEN}*"
    return out


def figures_text(text: str) -> str:
    """User text (tokens) inside Markdown: escape what Markdown or HTML would read."""
    import html
    return html.escape(text, quote=False).replace("*", "\\*").replace("_", "\\_")


def _input(model, tower, text, example) -> dict:
    """trace_head's input arguments for the picked model and tower."""
    if getattr(model, "family", "") == "fusion":          # one sequence: the caption and a picture
        if not example:
            raise InputError("Pick an example image: the fusion model reads it with the text.")
        return {"text": text, "image": api.load_example(example).image}
    if "image" in model.modalities:
        if tower == "image":
            if not example:
                raise InputError("Pick an example image for the image tower.")
            return {"image": api.load_example(example).image, "tower": "image"}
        return {"text": text, "tower": "text"}
    if tower == "image":
        raise InputError(f"{model_label_of(model)} reads text only: choose the text tower, or a "
                         "CLIP-style model (mini-CLIP) for the image tower.")
    return {"text": text}


def model_label_of(model) -> str:
    return getattr(model, "label", None) or model.name


def _in_range(model, tower: str, layer, head) -> tuple[int, int, int, int, str]:
    """(layer, head, n_layers, n_heads, note): the slider values moved into the tower's own
    range, so a model or tower switch never traces (or shows) a layer the tower lacks."""
    fusion = getattr(model, "family", "") == "fusion"
    shape = (model.n_layers, model.n_heads) if fusion else tower_shape(model, tower)
    layer, head = int(layer), int(head)
    if shape is None:
        return layer, head, max(layer + 1, 1), max(head + 1, 1), ""
    n_layers, n_heads = shape
    moved = (min(layer, n_layers - 1), min(head, n_heads - 1))
    note = ("" if moved == (layer, head) else
            f" · moved to layer {moved[0]}, head {moved[1]}: this {tower} tower has layers "
            f"0..{n_layers - 1} and heads 0..{n_heads - 1}")
    return *moved, n_layers, n_heads, note


def on_trace(ctx: AppContext, model_name, custom_model, tower, text, example, layer, head, query,
             step, predict, progress=gr.Progress()) -> dict:
    """Trace one head once; every step is drawn from the traces kept in `state`."""
    report = reporter(progress)
    model = resolve_model(ctx, model_name, custom_model, report)
    args = _input(model, tower, text, example)
    layer, head, n_layers, n_heads, moved = _in_range(model, args.get("tower", "text"), layer, head)
    report(0.5, "Tracing the head")
    with api.exclusive(model):
        tr = api.trace_head(model, layer=layer, head=head, **args)
        emb = api.trace_embeddings(model, **args) if hasattr(api, "trace_embeddings") else None
    q = query if isinstance(query, int) and 0 <= query < len(tr.tokens) else _named(tr.tokens, query)
    state = {"trace": tr, "emb": emb, "query": q, "revealed": set(), "guesses": {}, "scores": {},
             "model": model.name, "text": args.get("text"), "tower": tr.tower}
    out = {"state": state, "badge": badge(tr.max_error),
           "query": gr.update(choices=_query_choices(tr.tokens), value=q),
           "layer": gr.update(maximum=max(n_layers - 1, 1), value=layer),
           "head": gr.update(maximum=max(n_heads - 1, 1), value=head),
           "summary": (f"{model_label(ctx, model.name)} · {tr.tower} tower · layer {tr.layer}, "
                       f"head {tr.head} of {tr.n_heads} · {len(tr.tokens)} tokens · d = {tr.d_head} "
                       f"per head, {tr.x.shape[1]} in all" + moved
                       + (f"\n\n{fusion_note(tr, q)}" if tr.tower == "joint" else ""))}
    out |= attention_break.variant_choices(model, tr.tower)
    out |= {"damage": "", "broken": gr.update(value=None, visible=False)}   # another head's
    return out | step_view(state, step, predict)


# ---- the first view: the lesson's head and query, traced once per server -------------------
def lesson_start():
    """The state of the lesson about one head (the first lesson whose answer is the query's
    top key, i.e. "it" -> "cat"): the tab opens on its model, text, head, query and step."""
    return next((les.state for les in api.list_lessons() if les.measure == "top_key"), None)


_FIRST_VIEW: dict = {}
_FIRST_LOCK = threading.Lock()


def first_view(ctx: AppContext) -> dict:
    """The tab as a new visitor sees it: the lesson's head traced, its query picked, its step
    shown. Traced once per server; every page gets a fresh copy of the state."""
    st = lesson_start()
    if st is None or st.model not in {m["name"] for m in ctx.models} or st.model in ctx.unavailable:
        return {}
    with _FIRST_LOCK:
        if "out" not in _FIRST_VIEW:
            step = st.panel if st.panel in STEP_KEYS else STEP_KEYS[0]
            _FIRST_VIEW["out"] = on_trace(ctx, st.model, "", "text", st.text, None, st.layer,
                                          st.head, st.query, step, False) | {"step": step}
    out = fresh_copy(_FIRST_VIEW["out"])      # gradio consumes the update dicts it gets
    out["state"] = {**out["state"], "revealed": set(), "guesses": {}, "scores": {}}
    return out


def _named(tokens, query) -> int:
    """A query given by name (a lesson's "it") or a stale index: its position, else token 1."""
    if isinstance(query, str) and query.strip():
        try:
            return query_index(tokens, query.strip())
        except InputError:
            pass
    return 1 if len(tokens) > 2 else 0


def on_view(ctx: AppContext, state, query, step, predict) -> dict:
    """Another step, query token or the predict switch: a redraw, no model work. A new query
    asks every question afresh (their answers depend on it)."""
    if state is None:
        return {}
    if isinstance(query, int) and query != state["query"] and 0 <= query < len(state["trace"].tokens):
        state = {**state, "query": query, "revealed": set(), "guesses": {}, "scores": {}}
    return {"state": state} | step_view(state, step, predict)


def on_check(ctx: AppContext, state, step, guess, predict) -> dict:
    """Score the student's guess against the real number, then reveal the step's figure."""
    if state is None:
        raise InputError("Press Trace first: the questions are about its numbers.")
    qu = question(step, state["trace"], state.get("emb"), state["query"])
    if guess not in qu.choices:
        raise InputError("Pick one of the answers.")
    verdict = "✅ Right" if guess == qu.answer else f"❌ Not quite — the answer is “{qu.answer}”"
    state = {**state, "revealed": state["revealed"] | {step},
             "guesses": {**state["guesses"], step: guess},
             "scores": {**state["scores"], step: f"{verdict}. {figures_text(qu.reveal)}"}}
    return {"state": state} | step_view(state, step, predict)


def on_step(ctx: AppContext, state, query, step, predict, move: int) -> dict:
    """Previous / next step."""
    i = min(max(STEP_KEYS.index(step) + move, 0), len(STEP_KEYS) - 1)
    return {"step": STEP_KEYS[i]} | on_view(ctx, state, query, STEP_KEYS[i], predict)


def on_prev(ctx: AppContext, state, query, step, predict) -> dict:
    return on_step(ctx, state, query, step, predict, -1)


def on_next(ctx: AppContext, state, query, step, predict) -> dict:
    return on_step(ctx, state, query, step, predict, +1)


LINK = TabLink("attention", "any", (
    LinkField("model", "model", "model"), LinkField("model", "custom", "model"),
    LinkField("tower", "tower", "choice", choices=("text", "image")), LinkField("text", "text"),
    LinkField("example", "example", "choice", choices=tuple(api.list_examples())),
    LinkField("layer", "layer", "int", 0, 255, slider_max=5),
    LinkField("head", "head", "int", 0, 255, slider_max=11),
    LinkField("query", "query", "int", 0, 4095),      # the query token's position
    LinkField("step", "step", "choice", choices=tuple(STEP_KEYS)),
    LinkField("predict", "predict", "bool")), "attention-run")


def build(ctx: AppContext) -> tuple[Components, tuple]:
    """Lay out the tab; returns its components (the Lessons tab sets some of them) and its
    trace event as (fn, inputs, outputs), which the Lessons tab runs after setting them."""
    c = Components(state=gr.State(None))
    examples = api.list_examples()
    start = lesson_start()           # the tab starts where the lesson about one head does
    gr.Markdown("Follow **one real head** of a real model through its computation, with the "
                "model's own numbers (hover any figure). Switch on *predict first* to guess each "
                "step's result before you see it.")
    with gr.Row():
        with gr.Column(scale=3):
            c["text"] = gr.Textbox(label="Text (or the prompt, for a CLIP text tower)", lines=2,
                                   value=start.text if start else ctx.example_text)
            c["example"] = gr.Dropdown(examples, value=examples[0], label="Example image (image tower)")
        with gr.Column(scale=2):
            choices = picker_choices(ctx, "text") + picker_choices(ctx, "image") + [
                c for c in picker_choices(ctx, "fusion") if c[1] == "fusion"]   # one sequence
            c["model"] = gr.Dropdown(choices=choices, value=choices[0][1], label="Model")
            c["custom"] = gr.Textbox(label="…or a Hugging Face id / local folder",
                                     visible=ctx.allow_custom_models, max_length=300)
            c["tower"] = gr.Radio(["text", "image"], value="text",
                                  label="Tower (CLIP-style models read text or an image)")
            trace = gr.Button("Trace", variant="primary", elem_id=LINK.run_button)
            c[MESSAGE] = gr.Markdown(elem_classes="mm-message")
    with gr.Row():
        c["layer"] = gr.Slider(0, 5, value=start.layer if start else 0, step=1, label="Layer")
        c["head"] = gr.Slider(0, 11, value=start.head if start else 0, step=1, label="Head")
        c["query"] = gr.Dropdown([], value=start.query if start else None, label="Query token",
                                 allow_custom_value=True)
    c["summary"] = gr.Markdown()
    c["badge"] = gr.Markdown()
    save_json, save_report = build_exports(c)
    with gr.Row():
        c["step"] = gr.Radio([(TITLES[k], k) for k in STEP_KEYS], label="Step",
                             value=start.panel if start and start.panel in STEP_KEYS else "embeddings")
        c["predict"] = gr.Checkbox(label="Predict first", value=False)
    with gr.Row():
        prev, nxt = gr.Button("◀ Previous step", size="sm"), gr.Button("Next step ▶", size="sm")
    c["sentence"] = gr.Markdown()
    c["question"] = gr.Markdown()
    c["answer"] = gr.Radio([], label="Your answer", visible=False)
    c["plot"] = gr.Plot(show_label=False)
    attention_break.build(ctx, c)
    events = wire(ctx, c, trace, prev, nxt)
    wire_exports(ctx, c, save_json, save_report, ["state"])
    wire_url(c, LINK)
    return c, events


def wire(ctx: AppContext, c: dict, trace, prev, nxt) -> tuple:
    comps = picker(c)

    inputs = ["model", "custom", "tower", "text", "example", "layer", "head", "query", "step", "predict"]
    outputs = ["state", "badge", "query", "layer", "head", "summary", "variant", "damage", "broken",
               *STEP_OUT, MESSAGE]
    model_event = {"concurrency_id": "model", "concurrency_limit": ctx.model_concurrency}
    handler = bind(gpu(on_trace), ctx, outputs, release=True)
    trace.click(handler, comps(inputs), comps(outputs), api_name="trace_head", **model_event)
    c["text"].submit(handler, comps(inputs), comps(outputs), api_visibility="private", **model_event)
    # a new head, model or tower is a new trace (one cheap forward); the sliders follow it
    on_any([c[n].input for n in ("layer", "head", "model", "tower")], handler, comps(inputs),
           comps(outputs), api_visibility="private", **model_event)
    quick = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}
    view_in, view_out = ["state", "query", "step", "predict"], ["state", *STEP_OUT, MESSAGE]
    on_any([c[n].input for n in ("query", "step", "predict")], bind(on_view, ctx, view_out),
           comps(view_in), comps(view_out), **quick)
    # picking an answer is the guess: it is scored at once and the figure revealed
    c["answer"].input(bind(on_check, ctx, view_out), comps(["state", "step", "answer", "predict"]),
                      comps(view_out), **quick)
    for button, fn in ((prev, on_prev), (nxt, on_next)):
        button.click(bind(fn, ctx, ["step", *view_out]), comps(view_in), comps(["step", *view_out]),
                     **quick)
    attention_break.wire(ctx, c, comps, model_event)
    return handler, comps(inputs), comps(outputs)
