"""The Text tab: one forward pass, then attention views that only redraw.

`on_run` calls the model once and keeps the `TextView` in `gr.State`; moving a slider or
the special-token toggle redraws only the panel on screen, never touching the model; opening
a panel's tab draws that panel afresh.
"""
from __future__ import annotations

import threading

import gradio as gr

from .. import api, figures
from ..api.lens import why_no_lens
from ..api.text import instructive_head
from ..types import InputError, TextView
from . import causal_panel, compare_view
from .context import AppContext
from .events import MESSAGE, Components, bind, on_any, picker, reporter
from .gpu import gpu
from .inputs import parse_labels
from .model_picker import build_picker, model_label, picker_choices, resolve_model
from .prediction_view import READOUT, label_dict, notes_markdown, summary_markdown
from .compare_export import wire_compare_exports
from .share import LinkField, TabLink, build_exports, fresh_copy, wire_url

CAPTIONS = {
    "grid": "**Model view.** Every layer (rows, L0 = first) × head (columns), each a small "
             "query × key heatmap: darker = more attention. Long texts are grouped into blocks. "
             "The layer and head sliders pick the head outlined in red; *One head* shows it "
             "large, with its tokens.",
    "onehead": "**One head.** Row = the token that is attending (query), column = the token it "
            "attends to (key); each row sums to 1. Hover a cell for its weight. A dark diagonal "
            "= attends to itself; a dark column = everyone looks at one token (often [CLS] or "
            "[SEP], a 'no-op' head).",
    "lines": "**Head view.** For the chosen layer, a line joins each token (left) to the tokens "
             "it attends to most (right), one colour per head; stronger = thicker. Click a head in "
             "the legend to show or hide it (the head slider picks the first one shown). Lines below 5 % "
             "are not drawn.",
    "stats": "**Head summary.** One number per layer × head. Low entropy = a focused head; "
               "high 'share to special tokens' = a head parked on [CLS]/[SEP] (doing little); "
               "high 'share to previous token' or small mean distance = a positional head.",
    "rollout": "**Attention rollout** (Abnar & Zuidema 2020): multiplies the head-averaged "
               "attention of all layers, adding the residual connection, to estimate how much "
               "each output position draws from each input token. It ignores the value vectors "
               "and MLPs, so read it as a rough flow, not an attribution.",
    "norms": "**Hidden-state norms.** Length of each token's vector after the embeddings and "
             "after each layer (the residual stream). Watch how it changes with depth; a token "
             "whose norm stands out from the rest often behaves differently, e.g. as a place "
             "where heads park their attention.",
    "lens": "**Layer by layer** (the logit lens): each layer's output pushed through the model's "
            "own final norm and output head, as if the model stopped there. Top: the token it "
            "would predict at each position, coloured by probability (hover for the top 5). "
            "Bottom: the rank of the model's final answer at each layer — watch it climb to 0. "
            "Only for masked and causal language models: a sentence encoder such as the bundled "
            "MiniLM has no head over words, so this panel stays empty for it and says why.",
    "bertviz": "**bertviz** (Vig 2019), an extra. ⚠️ **It needs internet in your browser**: "
               "its JavaScript loads require.js, d3 and jQuery from a public CDN, so on an "
               "offline machine it cannot draw (the view then says so). The views above show the "
               "same attention without internet. Limited to short texts.",
}

# (tab title, key into CAPTIONS and the plots), in display order
PANELS = [("Model view", "grid"), ("One head", "onehead"), ("Head view", "lines"),
          ("Head summary", "stats"), ("Rollout", "rollout"), ("Hidden-state norms", "norms"),
          ("Layer by layer", "lens")]
SUBTABS = tuple(key for _, key in PANELS) + ("causal", "bertviz")
LINK = TabLink("text", "text", (
    LinkField("model", "model", "model"), LinkField("model", "custom", "model"),
    LinkField("text", "text"), LinkField("compare", "compare"), LinkField("labels", "labels"),
    LinkField("temperature", "temperature", "float", 0.01, 1.0),
    LinkField("hide", "hide", "bool"), LinkField("layer", "layer", "int", 0, 255, slider_max=5),
    LinkField("head", "head", "int", 0, 255, slider_max=11),
    LinkField("panel", "panels", "subtab", choices=SUBTABS, also=("panel",)),
    *compare_view.LINK_FIELDS), "text-run", extra_outputs=("cmp_accordion",),
    on_open=compare_view.open_link)
SLIDER_PANELS = ("grid", "onehead", "lines")          # the panels a layer/head step changes
TOGGLE_PANELS = ("grid", "onehead", "lines", "rollout", "norms")   # ... and the toggle


def _figure(state: dict, key: str, layer: int, head: int, hide_special: bool):
    """One panel's figure; the only place that knows how each panel is drawn.
    state: {"view": TextView, "rollout": Rollout} (rollout computed once per Inspect)."""
    view: TextView = state["view"]
    maps = view.attention
    layer, head = min(int(layer), maps.n_layers - 1), min(int(head), maps.n_heads - 1)
    if key == "grid":
        return figures.model_view(maps, hide_special, selected=(layer, head))
    if key == "onehead":
        return figures.head_heatmap(maps, layer, head, hide_special)
    if key == "lines":
        return figures.head_view(maps, layer, hide_special, selected_heads=[head])
    if key == "rollout":
        return figures.rollout_figure(state["rollout"], maps.special, hide_special,
                                      readout=READOUT[view.prediction.kind], causal=maps.causal)
    if key == "norms":
        return figures.hidden_norms_figure(view, hide_special)
    if key == "stats":
        return figures.head_summary_figure(api.head_summary(maps))
    if view.lens is None:                                   # "lens": language models only
        return figures.note_figure(_wrap(why_no_lens(view.model_name, view.prediction.kind)),
                                   height=220)
    masks = [f.position for f in view.prediction.fills] if view.prediction.kind == "masked_lm" else []
    return figures.logit_lens_figure(view.lens, keep_first=masks)


def _outputs(ctx: AppContext, model, view: TextView, inputs: tuple, layer, head, hide_special,
             panels=tuple(key for _, key in PANELS)) -> dict:
    """Everything an Inspect shows, from one TextView; `panels`: the figures to draw now.
    inputs: causal_panel.input_key of what was inspected (the lab compares its results')."""
    maps = view.attention
    asked = int(layer), int(head)
    layer, head = min(asked[0], maps.n_layers - 1), min(asked[1], maps.n_heads - 1)
    notes = notes_markdown(view)
    if (layer, head) != asked:           # a link's layer or head beyond this model: said
        notes = (notes + "\n\n" if notes else "") + (
            f"ℹ️ Layer {asked[0]}, head {asked[1]} is beyond this model (layers 0–"
            f"{maps.n_layers - 1}, heads 0–{maps.n_heads - 1}): showing layer {layer}, head {head}.")
    state = {"view": view, "rollout": api.rollout(maps), "inputs": inputs}
    out = {"state": state, "label": label_dict(view), "notes": notes,
           "summary": summary_markdown(view, str(model.device), model_label(ctx, model.name)),
           "layer": gr.update(maximum=maps.n_layers - 1, value=layer),
           "head": gr.update(maximum=maps.n_heads - 1, value=head)}
    return out | {key: _figure(state, key, layer, head, hide_special) for key in panels}


def _wrap(text: str, width: int = 95) -> str:
    """Line breaks for a plotly annotation (it never wraps by itself: a long note is cut)."""
    import textwrap
    return "<br>".join(textwrap.wrap(text, width))


def on_run(ctx: AppContext, model_name, custom_model, text, compare_to, labels_text, temperature,
           hide_special, layer, head, progress=gr.Progress()) -> dict:
    """Run the model once; every panel is drawn from the one TextView kept in `state`.
    The causal lab's results of other inputs are cleared (causal_panel.stale_outputs)."""
    report = reporter(progress)
    model = resolve_model(ctx, model_name, custom_model, report)
    report(0.4, "Running the model")
    with api.exclusive(model):
        view = api.inspect_text(model, text, compare_to=compare_to,
                                labels=parse_labels(labels_text), temperature=float(temperature),
                                logit_lens=True)
    report(0.7, "Drawing")
    inputs = causal_panel.input_key(model.name, text, compare_to, labels_text, temperature)
    return _outputs(ctx, model, view, inputs, layer, head, hide_special)


# ---- the first view: the example, drawn once per server and handed to every page ----------
_FIRST_VIEW: dict = {}
_FIRST_LOCK = threading.Lock()


def first_view(ctx: AppContext) -> dict:
    """The Text tab as a new visitor sees it: the example already inspected, opened on an
    instructive head (api.text.instructive_head: the most focused head not parked on
    [CLS]/[SEP]), only the visible panel drawn. Computed once per server and example and
    shared by every page load (a class of 30 opening the app runs the model once)."""
    name = picker_choices(ctx, "text")[0][1]
    key = (name, ctx.example_text, ctx.example_compare, ctx.example_labels)
    with _FIRST_LOCK:              # 30 pages at once: the first computes, the rest wait for it
        if key not in _FIRST_VIEW:
            model = api.load(name)
            with api.exclusive(model):
                view = api.inspect_text(model, ctx.example_text, compare_to=ctx.example_compare,
                                        labels=parse_labels(ctx.example_labels), logit_lens=True)
            layer, head, why = instructive_head(view.attention)
            inputs = causal_panel.input_key(model.name, ctx.example_text, ctx.example_compare,
                                            ctx.example_labels, 0.05)
            out = _outputs(ctx, model, view, inputs, layer, head, False, panels=("grid",))
            out["notes"] = (out["notes"] + "\n\n" if out["notes"] else "") + (
                f"ℹ️ The example was inspected for you; the view opens on {why}. Move the "
                "sliders to see the others, or change the text and press Inspect.")
            _FIRST_VIEW[key] = out
    return fresh_copy(_FIRST_VIEW[key])


def _redraw(state, panel: str, keys: tuple[str, ...], layer, head, hide_special) -> dict:
    """Redraw only the panel on screen, and only if the change affects it: a slider step
    costs one figure, not five (the others are redrawn when their tab is opened)."""
    if state is None:
        return {}                  # nothing drawn yet: a slider has nothing to change
    return {panel: _figure(state, panel, layer, head, hide_special)} if panel in keys else {}


def redraw_sliders(ctx: AppContext, state, panel, layer, head, hide_special) -> dict:
    return _redraw(state, panel, SLIDER_PANELS, layer, head, hide_special)


def redraw_toggle(ctx: AppContext, state, panel, layer, head, hide_special) -> dict:
    return _redraw(state, panel, TOGGLE_PANELS, layer, head, hide_special)


def redraw_all(ctx: AppContext, state, layer, head, hide_special) -> dict:
    """Every view that depends on the sliders or the toggle (the API's redraw endpoint)."""
    if state is None:
        raise InputError("Press Inspect first: the views are drawn from its result.")
    return {key: _figure(state, key, layer, head, hide_special) for key in TOGGLE_PANELS}


def make_on_open(key: str):
    """The handler for opening panel `key`'s tab: remember it is on screen and draw it
    afresh, unless it already was the panel on screen."""

    def on_open(ctx: AppContext, state, shown, layer, head, hide_special) -> dict:
        # A click on the sub-tab already on screen (gradio fires select again when the Text
        # tab itself is clicked) redraws nothing: that panel is current, and its sliders'
        # values were read when the click was sent, before the first view set them.
        if state is None or shown == key:
            return {"panel": key}
        return {"panel": key, key: _figure(state, key, layer, head, hide_special)}

    on_open.__name__ = on_open.__qualname__ = f"on_open_{key}"
    return on_open


def on_bertviz(ctx: AppContext, state, which) -> dict:
    if state is None:
        raise InputError("Press Inspect first, then open bertviz.")
    html = api.bertviz_html(state["view"], "model" if which == "model view" else "head")
    return {"bertviz": figures.iframe_srcdoc(html)}


def build(ctx: AppContext) -> dict:
    """Lay out the Text tab inside the current Blocks and wire its events; its components."""
    c = Components(state=gr.State(None), panel=gr.State("grid"))
    with gr.Row():
        with gr.Column(scale=3):
            c["text"] = gr.Textbox(label="Text", lines=3, value=ctx.example_text)
            c["compare"] = gr.Textbox(label="Second text (optional, sentence-embedding models): "
                                      "cosine similarity", lines=1, value=ctx.example_compare)
            c["labels"] = gr.Textbox(label="Labels (optional, one per line or comma-separated): "
                                     "zero-shot", lines=2, value=ctx.example_labels)
        with gr.Column(scale=1):
            c["model"], c["custom"] = build_picker(ctx, "text")
            c["temperature"] = gr.Slider(0.01, 1.0, value=0.05, step=0.01,
                                         label="Zero-shot temperature")
            c["hide"] = gr.Checkbox(label="Hide special tokens ([CLS], [SEP])", value=False)
            run = gr.Button("Inspect", variant="primary", elem_id=LINK.run_button)
            c[MESSAGE] = gr.Markdown(elem_classes="mm-message")
    with gr.Accordion("Compare A/B: a second text or model next to this one", open=False,
                      elem_id="cmp-accordion") as c["cmp_accordion"]:
        compare_view.build(ctx, c)
    c["notes"] = gr.Markdown()
    with gr.Row():
        c["label"] = gr.Label(label="Prediction: zero-shot / class / next-token probabilities",
                              num_top_classes=10)
        c["summary"] = gr.Markdown()
    save_json, save_report = build_exports(c)
    with gr.Row():
        c["layer"] = gr.Slider(0, 5, value=0, step=1, label="Layer")
        c["head"] = gr.Slider(0, 11, value=0, step=1, label="Head")
    tabs = {}
    with gr.Tabs() as c["panels"]:
        for title, key in PANELS:
            with gr.Tab(title, id=key) as tabs[key]:
                c[key] = gr.Plot(show_label=False)
                gr.Markdown(CAPTIONS[key])
            if key == "stats":           # the causal lab sits next to the head summary
                with gr.Tab("Causal lab", id="causal") as causal_tab:
                    causal_panel.build(ctx, c)
        with gr.Tab("bertviz (needs internet)", id="bertviz") as bertviz_tab:
            gr.Markdown(CAPTIONS["bertviz"])
            c["which"] = gr.Radio(["head view", "model view"], value="head view", show_label=False)
            show_bv = gr.Button("Show bertviz (loads from the internet)")
            c["bertviz"] = gr.HTML()
    c["redraw_all"] = gr.Button(visible=False)
    wire(ctx, c, run, show_bv, tabs)
    causal_panel.wire(ctx, c)
    wire_compare_exports(ctx, c, save_json, save_report, ["state"], "cmp_state", "text")
    wire_url(c, LINK, {"panel": {**tabs, "causal": causal_tab, "bertviz": bertviz_tab}})
    return c


def wire(ctx: AppContext, c: dict, run, show_bv, tabs: dict) -> None:
    """Connect the events; each handler's outputs are named, so order is decided here only."""

    comps = picker(c)

    inputs = ["model", "custom", "text", "compare", "labels", "temperature", "hide", "layer", "head"]
    outputs = ["state", "label", "summary", "notes", "layer", "head", MESSAGE,
               *(key for _, key in PANELS)]
    for trigger, api_name in ((run.click, "inspect_text"), (c["text"].submit, None)):
        event = trigger(bind(gpu(on_run), ctx, outputs, release=True), comps(inputs),
                        comps(outputs), api_name=api_name,
                        api_visibility="public" if api_name else "private",
                        concurrency_id="model", concurrency_limit=ctx.model_concurrency)
        causal_panel.wire_after_inspect(ctx, c, event)     # nothing stale next to the new input
    view_in = ["state", "panel", "layer", "head", "hide"]
    # Redraws never touch the model: their own unlimited queue, never behind a model event.
    quick = {"concurrency_limit": None, "show_progress": "hidden"}
    # input fires on drag and typing; always_last drops the stale redraws in between
    on_any([c["layer"].input, c["head"].input],
           bind(redraw_sliders, ctx, [*SLIDER_PANELS, MESSAGE]),
           comps(view_in), comps([*SLIDER_PANELS, MESSAGE]), api_visibility="private", **quick)
    c["hide"].input(bind(redraw_toggle, ctx, [*TOGGLE_PANELS, MESSAGE]), comps(view_in),
                    comps([*TOGGLE_PANELS, MESSAGE]), api_visibility="private",
                    trigger_mode="always_last", **quick)
    for key, tab in tabs.items():
        tab.select(bind(make_on_open(key), ctx, ["panel", key, MESSAGE]),
                   comps(["state", "panel", "layer", "head", "hide"]),
                   comps(["panel", key, MESSAGE]),
                   api_visibility="private", **quick)
    redraw_out = [*TOGGLE_PANELS, MESSAGE]
    show_bv.click(bind(on_bertviz, ctx, ["bertviz", MESSAGE]), comps(["state", "which"]),
                  comps(["bertviz", MESSAGE]), api_name="bertviz", **quick)
    # For API users: every slider-dependent view at once (the page uses the cheaper events);
    # an endpoint needs a trigger, so it hangs on a button nobody sees.
    c["redraw_all"].click(bind(redraw_all, ctx, redraw_out), comps(["state", "layer", "head", "hide"]),
                          comps(redraw_out), api_name="redraw_text", **quick)
