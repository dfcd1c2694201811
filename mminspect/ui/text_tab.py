"""The Text tab: one forward pass, then attention views that only redraw.

`on_run` calls the model once and keeps the `TextView` in `gr.State`; moving a slider or
the special-token toggle calls `redraw`, which never touches the model.
"""
from __future__ import annotations

import gradio as gr

from .. import api, figures
from ..explain import head_summary, rollout
from ..types import InputError, TextView
from .context import AppContext
from .errors import user_errors
from .inputs import parse_labels
from .gpu import gpu
from .model_picker import build_picker, resolve_model
from .prediction_view import READOUT, label_dict, notes_markdown, summary_markdown

CAPTIONS = {
    "model": "**Model view.** Every layer (rows, L0 = first) × head (columns), each a small "
             "query × key heatmap: darker = more attention. Long texts are grouped into blocks. "
             "Use the layer and head sliders to enlarge one (outlined in red).",
    "head": "**One head.** Row = the token that is attending (query), column = the token it "
            "attends to (key); each row sums to 1. Hover a cell for its weight. A bright diagonal "
            "= attends to itself; a bright column = everyone looks at one token (often [CLS] or "
            "[SEP], a 'no-op' head).",
    "lines": "**Head view.** For the chosen layer, a line joins each token (left) to the tokens "
             "it attends to most (right), one colour per head; stronger = thicker. Click a head in "
             "the legend to show or hide it (the head slider picks the first one shown). Lines below 5 % "
             "are not drawn.",
    "summary": "**Head summary.** One number per layer × head. Low entropy = a focused head; "
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
            "Only for masked and causal language models.",
    "bertviz": "**bertviz** (Vig 2019), an extra. Its JavaScript loads libraries from the "
               "internet *in your browser*: offline it stays blank; the views above do not "
               "need it. Limited to short texts.",
}

# (tab title, key into CAPTIONS and the plots), in display order
PANELS = [("Model view", "model"), ("One head", "head"), ("Head view", "lines"),
          ("Head summary", "summary"), ("Rollout", "rollout"), ("Hidden-state norms", "norms"),
          ("Layer by layer", "lens")]


def _views(view: TextView, layer: int, head: int, hide_special: bool):
    """Every figure that depends on the sliders or the toggle."""
    maps = view.attention
    layer = min(int(layer), maps.n_layers - 1)
    head = min(int(head), maps.n_heads - 1)
    return (figures.model_view(maps, hide_special, selected=(layer, head)),
            figures.head_heatmap(maps, layer, head, hide_special),
            figures.head_view(maps, layer, hide_special, selected_heads=[head]),
            figures.rollout_figure(rollout(maps), maps.special, hide_special,
                                   readout=READOUT[view.prediction.kind], causal=maps.causal),
            figures.hidden_norms_figure(view, hide_special))


def _lens_figure(view: TextView):
    """The logit lens for language models; None (an empty plot) for the others."""
    if view.lens is None:
        return None
    masks = [f.position for f in view.prediction.fills] if view.prediction.kind == "masked_lm" else []
    return figures.logit_lens_figure(view.lens, keep_first=masks)


def make_on_run(ctx: AppContext):
    @user_errors
    @gpu
    def on_run(model_name, custom_model, text, compare_to, labels_text, temperature, hide_special,
               layer, head, progress=gr.Progress()):
        model = resolve_model(ctx, model_name, custom_model, progress)
        progress(0.4, desc="Running the model")
        view = api.inspect_text(model, text, compare_to=compare_to,
                                labels=parse_labels(labels_text), temperature=float(temperature),
                                logit_lens=True)
        progress(0.7, desc="Drawing")
        maps = view.attention
        return (view, label_dict(view),
                summary_markdown(view, str(model.device)), notes_markdown(view),
                gr.update(maximum=maps.n_layers - 1), gr.update(maximum=maps.n_heads - 1),
                figures.head_summary_figure(head_summary(maps)), _lens_figure(view),
                *_views(view, layer, head, hide_special))
    return on_run


@user_errors
def redraw(view, layer, head, hide_special):
    if view is None:
        raise InputError("Run an inspection first (press Inspect).")
    return _views(view, layer, head, hide_special)


@user_errors
def on_bertviz(view, which):
    if view is None:
        raise InputError("Run an inspection first (press Inspect), then open bertviz.")
    return figures.iframe_srcdoc(api.bertviz_html(view, "model" if which == "model view" else "head"))


def build(ctx: AppContext) -> None:
    """Lay out the Text tab inside the current Blocks and wire its events."""
    state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label="Text", lines=3, value=ctx.example_text, max_length=ctx.max_chars)
            compare = gr.Textbox(label="Second text (optional, sentence-embedding models): cosine "
                                 "similarity", lines=1, value=ctx.example_compare, max_length=ctx.max_chars)
            labels = gr.Textbox(label="Labels (optional, one per line or comma-separated): zero-shot",
                                lines=2, value=ctx.example_labels)
        with gr.Column(scale=1):
            model, custom = build_picker(ctx, "text")
            temperature = gr.Slider(0.01, 1.0, value=0.05, step=0.01, label="Zero-shot temperature")
            hide = gr.Checkbox(label="Hide special tokens ([CLS], [SEP])", value=False)
            run = gr.Button("Inspect", variant="primary")
    notes = gr.Markdown()
    with gr.Row():
        pred_label = gr.Label(label="Prediction: zero-shot / class / next-token probabilities",
                              num_top_classes=10)
        summary = gr.Markdown()
    with gr.Row():
        layer = gr.Slider(0, 5, value=0, step=1, label="Layer")
        head = gr.Slider(0, 11, value=0, step=1, label="Head")
    with gr.Tabs():
        plots = {}
        for title, key in PANELS:
            with gr.Tab(title):
                plots[key] = gr.Plot(show_label=False)
                gr.Markdown(CAPTIONS[key])
        with gr.Tab("bertviz (needs internet)"):
            gr.Markdown(CAPTIONS["bertviz"])
            which = gr.Radio(["head view", "model view"], value="head view", show_label=False)
            show_bv = gr.Button("Show bertviz")
            bv = gr.HTML()
    views = [plots[k] for k in ("model", "head", "lines", "rollout", "norms")]  # order of _views
    inputs = [model, custom, text, compare, labels, temperature, hide, layer, head]
    outputs = [state, pred_label, summary, notes, layer, head, plots["summary"], plots["lens"], *views]
    on_run = make_on_run(ctx)
    run.click(on_run, inputs, outputs, api_name="inspect_text", concurrency_id="model",
              concurrency_limit=1)
    text.submit(on_run, inputs, outputs, api_visibility="private", concurrency_id="model",
                concurrency_limit=1)
    for control in (layer, head):
        # input fires on drag and on typing; always_last drops the stale redraws in between
        control.input(redraw, [state, layer, head, hide], views, api_visibility="private",
                      show_progress="hidden", trigger_mode="always_last")
    hide.change(redraw, [state, layer, head, hide], views, api_name="redraw_text")
    show_bv.click(on_bertviz, [state, which], bv, api_name="bertviz")
