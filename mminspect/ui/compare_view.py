"""Compare mode of the Text tab: text (and model) A against text (and model) B.

Text A, the model and the labels are the Text tab's own inputs; this panel adds text B and
model B. One Compare runs both sides once (`api.compare_texts`) and keeps the `Comparison`
in `gr.State`: picking a head in the "most changed" list or moving the sliders only redraws.
"""
from __future__ import annotations

import html

import gradio as gr

from .. import api
from ..figures.compare import compare_head_figure, head_change_figure
from ..types import InputError
from ..types.compare import Comparison
from .context import AppContext
from .events import bind, on_any, picker, reporter
from .gpu import gpu
from .inputs import parse_labels
from .model_picker import model_label, picker_choices, resolve_model
from .share import LinkField

SAME, RANDOM = "@same", "@random"   # model B choices that are not registry names
RANDOM_K = 2                        # layers re-initialised in "A with its last layers random"
OWN = "(type your own)"
MESSAGE = "cmp_message"
CAPTION = ("**Compare A and B.** Text A, the model and the labels are the ones above; type text B "
           "(or pick a minimal pair) and, if you like, another model B. The tokens of A and B are "
           "lined up by edit distance: `+not` = only in B, `−old` = only in A, `cat→cats` = "
           "changed. Left: A's head; middle: B's head, on **one** colour scale; right: A − B on "
           "its own red–blue scale (red: A attends more). The distance is the Jensen–Shannon "
           "divergence of each query row, averaged: 0 = the same pattern, ln 2 ≈ 0.69 = no key "
           "in common. Pick a head in *Most changed heads* to open it.")


# What a link to the Text tab carries of the comparison: text B and model B (by name; the
# host's own checks still apply when Compare runs). A link with text B opens the panel and
# presses Compare (links.LINK_RUNS).
LINK_FIELDS = (LinkField("b", "cmp_text_b", default=""),
               LinkField("model_b", "cmp_model_b", "choice", default=SAME, choices=(SAME, RANDOM) + tuple(
                   m["name"] for m in api.list_models() if m["modality"] == "text")))


def open_link(ctx: AppContext, values: dict) -> dict:
    """A link that names text B opens the Compare panel (its button is pressed next)."""
    return {"cmp_accordion": gr.Accordion(open=True)} if values.get("cmp_text_b") else {}


def model_b_choices(ctx: AppContext) -> list[tuple[str, str]]:
    return ([("Same model as A", SAME),
             (f"Model A with its last {RANDOM_K} layers random", RANDOM)]
            + picker_choices(ctx, "text"))


def _head_choice(layer: int, head: int, js: float) -> tuple[str, str]:
    return f"layer {layer}, head {head}: {js:.3f} nats", f"{layer},{head}"


def esc(text) -> str:
    """User text (tokens, model names, labels) shown as text in Markdown, never as HTML."""
    return html.escape(str(text), quote=False)


def summary_markdown(ctx: AppContext, diff: Comparison) -> str:
    """The numbers under the figures: alignment, prediction change, notes, the top heads."""
    al = diff.alignment
    edits = [lab for lab, op in zip(al.labels, al.ops) if op != "same"]
    names = [model_label(ctx, n) for n in diff.model_names]
    lines = [f"**A**: {esc(names[0])} · **B**: {esc(names[1])}",
             f"**Aligned tokens**: {len(al.ops)}, edits: {al.n_edits}"
             + (f" ({esc(', '.join(edits))})" if edits else " (the same tokens)"),
             "**Prediction**: " + esc(" ".join(diff.prediction)),
             "**Mean distance per layer** (nats): "
             + ", ".join(f"L{i} {v:.3f}" for i, v in enumerate(diff.layer_js))]
    lines += [f"ℹ️ {esc(n)}" for n in diff.notes]
    return "\n\n".join(lines)


def on_compare(ctx: AppContext, model_name, custom_model, text_a, labels_text, text_b, model_b,
               progress=gr.Progress()) -> dict:
    """Run A and B once each and compare them; opens the head that changed most."""
    if not (text_b or "").strip():
        raise InputError("Type a text B to compare with text A (or pick a minimal pair).")
    report = reporter(progress)
    model = resolve_model(ctx, model_name, custom_model, report)
    report(0.3, "Preparing model B")
    if model_b == RANDOM:
        other = api.randomized_copy(model, k=RANDOM_K)
    elif model_b in (SAME, None, ""):
        other = model
    else:
        other = resolve_model(ctx, model_b, None)
    report(0.5, "Running A and B")
    diff = api.compare_texts(model, text_a, text_b, model_b=other,
                             labels=parse_labels(labels_text) or None, logit_lens=True)
    layer, head, _ = diff.top_heads[0]
    n_layers, n_heads = diff.head_js.shape
    return {"cmp_state": diff, "cmp_summary": summary_markdown(ctx, diff),
            "cmp_heads": gr.update(choices=[_head_choice(*t) for t in diff.top_heads],
                                   value=f"{layer},{head}"),
            "cmp_layer": gr.update(maximum=n_layers - 1, value=layer),
            "cmp_head": gr.update(maximum=n_heads - 1, value=head),
            "cmp_figure": compare_head_figure(diff, layer, head),
            "cmp_heads_figure": head_change_figure(diff)}


def _need(state) -> Comparison:
    if state is None:
        raise InputError("Press Compare first: there is no comparison to show yet.")
    return state


def on_open_head(ctx: AppContext, state, choice) -> dict:
    """A head picked in the "most changed" list: set the sliders to it and draw it."""
    diff = _need(state)
    if not choice:
        return {}
    layer, head = (int(x) for x in str(choice).split(","))
    return {"cmp_layer": layer, "cmp_head": head, "cmp_figure": compare_head_figure(diff, layer, head)}


def on_slide(ctx: AppContext, state, layer, head) -> dict:
    diff = _need(state)
    layer = min(int(layer), diff.head_js.shape[0] - 1)
    head = min(int(head), diff.head_js.shape[1] - 1)
    return {"cmp_figure": compare_head_figure(diff, layer, head)}


def on_pair(ctx: AppContext, name) -> dict:
    """A minimal pair picked: fill text A, text B and the labels, and say what it teaches."""
    pair = next((p for p in api.list_pairs() if p["name"] == name), None)
    if pair is None:
        return {"cmp_teaches": ""}
    return {"text": pair["text_a"], "cmp_text_b": pair["text_b"], "labels": ", ".join(pair["labels"]),
            "cmp_teaches": f"*{html.escape(pair['teaches'], quote=False)}*"}


def build(ctx: AppContext, c: dict) -> None:
    """The Compare panel's components (added to the Text tab's `c`) and its events."""
    gr.Markdown(CAPTION)
    c["cmp_state"] = gr.State(None)
    with gr.Row():
        with gr.Column(scale=3):
            c["cmp_text_b"] = gr.Textbox(label="Text B", lines=2, elem_id="cmp-text-b")
            c["cmp_teaches"] = gr.Markdown()
        with gr.Column(scale=2):
            c["cmp_pair"] = gr.Dropdown([OWN] + [p["name"] for p in api.list_pairs()], value=OWN,
                                        label="Minimal pair (fills A, B and the labels)",
                                        elem_id="cmp-pair")
            c["cmp_model_b"] = gr.Dropdown(model_b_choices(ctx), value=SAME, label="Model B",
                                           elem_id="cmp-model-b")
            c["cmp_run"] = gr.Button("Compare A and B", variant="primary", elem_id="cmp-run")
            c[MESSAGE] = gr.Markdown(elem_classes="mm-cmp-message")
    c["cmp_summary"] = gr.Markdown()
    with gr.Row():
        c["cmp_heads"] = gr.Radio([], label="Most changed heads (pick one to open it)",
                                  elem_id="cmp-heads", scale=2)
        c["cmp_layer"] = gr.Slider(0, 5, value=0, step=1, label="Compared layer (of A)", elem_id="cmp-layer")
        c["cmp_head"] = gr.Slider(0, 11, value=0, step=1, label="Compared head", elem_id="cmp-head")
    c["cmp_figure"] = gr.Plot(show_label=False, elem_id="cmp-figure")
    c["cmp_heads_figure"] = gr.Plot(show_label=False, elem_id="cmp-heads-figure")
    wire(ctx, c)


def wire(ctx: AppContext, c: dict) -> None:
    comps = picker(c)

    outputs = ["cmp_state", "cmp_summary", "cmp_heads", "cmp_layer", "cmp_head", "cmp_figure",
               "cmp_heads_figure", MESSAGE]
    c["cmp_run"].click(bind(gpu(on_compare), ctx, outputs, message=MESSAGE, release=True),
                       comps(["model", "custom", "text", "labels", "cmp_text_b", "cmp_model_b"]),
                       comps(outputs), api_name="compare_text", concurrency_id="model",
                       concurrency_limit=ctx.model_concurrency)
    quick = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}
    head_out = ["cmp_layer", "cmp_head", "cmp_figure", MESSAGE]
    c["cmp_heads"].input(bind(on_open_head, ctx, head_out, message=MESSAGE),
                         comps(["cmp_state", "cmp_heads"]), comps(head_out), **quick)
    on_any([c["cmp_layer"].input, c["cmp_head"].input],
           bind(on_slide, ctx, ["cmp_figure", MESSAGE], message=MESSAGE),
           comps(["cmp_state", "cmp_layer", "cmp_head"]), comps(["cmp_figure", MESSAGE]), **quick)
    pair_out = ["text", "cmp_text_b", "labels", "cmp_teaches", MESSAGE]
    c["cmp_pair"].input(bind(on_pair, ctx, pair_out, message=MESSAGE), comps(["cmp_pair"]),
                        comps(pair_out), **quick)
