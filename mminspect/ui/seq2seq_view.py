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
from .events import MESSAGE, Components, bind, on_any, picker
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


def chosen(state, layer, head, token, stack: str):
    """(view, layer, head or None, written token) of a kept run, checked; `stack` names
    what the layers belong to in a message ("the decoder")."""
    if not state:
        raise InputError("Press Run first: the views are drawn from a run.")
    view = state["view"]
    layer, h = int(layer), head_index(head)
    if not 0 <= layer < view.n_layers:
        raise InputError(f"Layer {layer} does not exist: {stack} has layers 0-{view.n_layers - 1}.")
    if h is not None and not 0 <= h < view.n_heads:
        raise InputError(f"Head {h} does not exist: this model has heads 0-{view.n_heads - 1}.")
    return view, layer, h, token_index(token, len(view.target_tokens))


def control_updates(view, layer, head) -> tuple[dict, tuple]:
    """After a run: the layer, head and written-token controls fitted to the model and the
    tokens it wrote ({name: update}), and (layer, head, token) to draw first."""
    layer = min(int(layer), view.n_layers - 1)
    h = head_index(head)
    head = head if h is None or h < view.n_heads else MEAN
    tokens = [f"{i}: {t}" for i, t in enumerate(view.target_tokens)]
    return ({"layer": gr.update(maximum=view.n_layers - 1, value=layer),
             "head": gr.update(choices=head_choices(view.n_heads), value=head),
             "token": gr.update(choices=tokens, value=tokens[0])}, (layer, head, tokens[0]))


def _redraw(state, layer, head, token) -> dict:
    view, layer, h, t = chosen(state, layer, head, token, "the decoder")
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
    controls, first = control_updates(view, layer, head)
    return _redraw(state, *first) | controls | {"state": state, "summary": _summary(view)}


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


def wire_views(ctx: AppContext, c: Components, run_fn, inputs: list[str], run_out: list[str],
               redraw_fn, redraw_out: list[str], api_name: str):
    """Run (the model queue) and the redraws of the layer, head and written-token controls
    (their own unlimited queue: a redraw never waits behind a model run). -> the run's fn."""
    comps = picker(c)
    run = bind(gpu(run_fn), ctx, run_out, release=True)
    c["run"].click(run, comps(inputs), comps(run_out), api_name=api_name,
                   concurrency_id="model", concurrency_limit=ctx.model_concurrency)
    on_any([c[n].input for n in ("layer", "head", "token")], bind(redraw_fn, ctx, redraw_out),
           comps(["state", "layer", "head", "token"]), comps(redraw_out),
           api_name=f"{api_name}_redraw", show_progress="hidden", concurrency_limit=None)
    return run


def wire(ctx: AppContext, c: Components) -> None:
    inputs = ["model", "custom", "source", "target", "max_new", "layer", "head", "token"]
    run = wire_views(ctx, c, on_run, inputs, RUN, on_redraw, REDRAW, "cross_attention")
    comps = picker(c)
    c["source"].submit(run, comps(inputs), comps(RUN), api_name="cross_attention_submit",
                       concurrency_id="model", concurrency_limit=ctx.model_concurrency)
