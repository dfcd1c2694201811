"""The encoder–decoder view (T5 family): the encoder reads a source text, the decoder writes a
target token by token and, in every layer, reads the encoder through cross-attention. One run
writes the target (or reads a given one) and keeps every attention and the logit lens; the
layer, head and written-token controls only redraw from the kept result (no model run)."""
from __future__ import annotations

import gradio as gr

from .. import api
from ..figures import seq2seq as figs
from ..types import InputError
from .context import AppContext
from .events import MESSAGE, Components, bind, picker
from .gpu import gpu
from .model_picker import build_picker, resolve_model

MEAN = figs.MEAN
MESSAGE_CLASS = "mm-s2s"        # this view's own message line (the tab holds two)
SOURCE = "translate English to German: The house is wonderful."
INTRO = ("The **encoder** reads the source; the **decoder** writes the target one token at a "
         "time. In every decoder layer each head reads the encoder's output: that is the "
         "**cross-attention** — for each written token, which source tokens it read. Leave the "
         "target empty and the model writes its own (greedy); type one and the decoder reads "
         "it all at once (teacher forcing: the same numbers for the same tokens).")


def head_index(head) -> int | None:
    """'head 2' -> 2; the heads' mean -> None."""
    return None if head in (None, "", MEAN) else int(str(head).split()[-1])


def token_index(token, n: int) -> int:
    """'3: Haus' -> 3 (the first written token when none is chosen yet)."""
    if token and ":" in str(token):
        t = int(str(token).split(":")[0])
        if 0 <= t < n:
            return t
    return 0


def head_choices(n_heads: int) -> list[str]:
    return [MEAN, *(f"head {h}" for h in range(n_heads))]


def _redraw(state, layer, head, token) -> dict:
    if not state:
        raise InputError("Press Run first: the views are drawn from a run.")
    view = state["view"]
    layer, h = int(layer), head_index(head)
    if not 0 <= layer < view.n_layers:
        raise InputError(f"Layer {layer} does not exist: the decoder has layers 0-{view.n_layers - 1}.")
    if h is not None and not 0 <= h < view.n_heads:
        raise InputError(f"Head {h} does not exist: this model has heads 0-{view.n_heads - 1}.")
    t = token_index(token, len(view.target_tokens))
    return {"cross": figs.cross_figure(view, layer, h), "read_by": figs.read_by_figure(view, t, layer),
            "encoder": figs.encoder_figure(view, layer, h), "decoder": figs.decoder_figure(view, layer, h),
            "lens": figs.decoder_lens_figure(view)}


def _summary(view) -> str:
    how = {"end": "it wrote the end token `</s>`", "max_new_tokens": "it reached the token cap",
           "given": "given, read in one pass"}[view.stopped]
    target = " ".join(f"`{t}`" for t in view.target_tokens)
    return (f"**{'Written' if view.generated else 'Target'}** ({len(view.target_tokens)} tokens; "
            f"{how}): {target}\n\nSource: {len(view.source_tokens)} tokens · decoder: "
            f"{view.n_layers} layers × {view.n_heads} heads")


def on_run(ctx: AppContext, model_name, custom, source, target, max_new, layer, head, token,
           progress=gr.Progress()) -> dict:
    """Load the model, write (or read) the target, keep the view; draw every figure."""
    if not isinstance(source, str) or not source.strip():       # before any model loads
        raise InputError("The source text is empty. Type a sentence, e.g. " + repr(SOURCE))
    model = resolve_model(ctx, model_name, custom, progress)
    progress(0.4, desc="Running the model")
    with api.exclusive(model):
        view = api.cross_attention(model, source, target_text=(target or "").strip() or None,
                                   max_new_tokens=int(max_new), logit_lens=True)
    state = {"view": view}
    layer = min(int(layer), view.n_layers - 1)
    head = head if head_index(head) is None or head_index(head) < view.n_heads else MEAN
    tokens = [f"{i}: {t}" for i, t in enumerate(view.target_tokens)]
    return _redraw(state, layer, head, tokens[0]) | {
        "state": state, "summary": _summary(view),
        "layer": gr.update(maximum=view.n_layers - 1, value=layer),
        "head": gr.update(choices=head_choices(view.n_heads), value=head),
        "token": gr.update(choices=tokens, value=tokens[0])}


def on_redraw(ctx: AppContext, state, layer, head, token) -> dict:
    return _redraw(state, layer, head, token)


FIGURES = ["cross", "read_by", "encoder", "decoder", "lens"]
REDRAW = [*FIGURES, MESSAGE]
RUN = ["state", "summary", "layer", "head", "token", *REDRAW]


def build(ctx: AppContext) -> Components:
    c = Components()
    lim = api.limits()
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1):
            c["model"], c["custom"] = build_picker(ctx, "seq2seq")
            c["max_new"] = gr.Slider(1, lim.max_new_tokens, value=min(16, lim.max_new_tokens),
                                     step=1, label="Tokens to write at most")
        with gr.Column(scale=2):
            c["source"] = gr.Textbox(SOURCE, label="Source text (the encoder reads it)", lines=2)
            c["target"] = gr.Textbox("", label="Target text (empty: the model writes it)")
            c["run"] = gr.Button("Run", variant="primary")
            c[MESSAGE] = gr.Markdown(elem_classes=["mm-message", MESSAGE_CLASS])
            c["summary"] = gr.Markdown()
    with gr.Row():
        c["layer"] = gr.Slider(0, 5, value=5, step=1, label="Decoder layer")
        c["head"] = gr.Dropdown(head_choices(8), value=MEAN, label="Head")
        c["token"] = gr.Dropdown([], value=None, label="Written token")
    c["state"] = gr.State(None)
    with gr.Tab("Cross-attention"):
        c["cross"] = gr.Plot(show_label=False)
        c["read_by"] = gr.Plot(show_label=False)
    with gr.Tab("Encoder self-attention"):
        c["encoder"] = gr.Plot(show_label=False)
    with gr.Tab("Decoder self-attention"):
        c["decoder"] = gr.Plot(show_label=False)
    with gr.Tab("Logit lens"):
        c["lens"] = gr.Plot(show_label=False)
    wire(ctx, c)
    return c


def wire(ctx: AppContext, c: Components) -> None:
    comps = picker(c)
    run = bind(gpu(on_run), ctx, RUN, release=True)
    inputs = comps(["model", "custom", "source", "target", "max_new", "layer", "head", "token"])
    model_event = {"concurrency_id": "model", "concurrency_limit": ctx.model_concurrency}
    c["run"].click(run, inputs, comps(RUN), api_name="cross_attention", **model_event)
    c["source"].submit(run, inputs, comps(RUN), api_name="cross_attention_submit", **model_event)
    redraw = comps(["state", "layer", "head", "token"])
    for control in ("layer", "head", "token"):
        c[control].input(bind(on_redraw, ctx, REDRAW), redraw, comps(REDRAW),
                         api_name=f"cross_attention_redraw_{control}", show_progress="hidden",
                         concurrency_limit=None, trigger_mode="always_last")
