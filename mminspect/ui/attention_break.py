""""Break it on purpose", under the step-through: re-run the traced head with a classic
mistake (`api.break_attention`) and show real vs broken weights side by side with the
measured damage. Text models only (the library measures a text prediction)."""
from __future__ import annotations

import html
import math

import gradio as gr

from .. import api
from ..figures import glassbox_parts
from ..types import InputError
from .context import AppContext
from .events import MESSAGE, bind, reporter
from .gpu import gpu
from .model_picker import resolve_model

NOT_TEXT = "Break it on purpose works on text models: pick MiniLM (or a BERT / GPT-2 model)."


def variant_choices(model, tower: str) -> dict:
    """The variant picker's choices for this model: {label: name} from the library."""
    if tower != "text" or "image" in model.modalities or not hasattr(api, "list_attention_variants"):
        return {"variant": gr.update(choices=[], value=None)}
    variants = api.list_attention_variants(model)                   # {name: one sentence}
    choices = [(f"{name.replace('_', ' ')} — {desc}", name) for name, desc in variants.items()
               if name != "correct_attention"]
    return {"variant": gr.update(choices=choices, value=choices[0][1] if choices else None)}


def damage_markdown(b) -> str:
    e = html.escape
    weights = ("none to compare (the heads were never split: one big head has no head-sized weights)" if math.isnan(b.weights_error)
               else f"{b.weights_error:.3g}")
    return (f"**{e(b.description)}** (layer {b.layer}, head {b.head})\n\n"
            f"| measured | value |\n|---|---|\n"
            f"| max error of this head's weights | {weights} |\n"
            f"| max error of the layer's attention output | {b.output_error:.3g} |\n"
            f"| prediction, real model | {e(b.prediction_real)} |\n"
            f"| prediction, mistake in every layer | {e(b.prediction_broken)} |\n"
            f"| {e(b.prediction_measure)} | {b.prediction_change:.3g} |")


def on_break(ctx: AppContext, model_name, custom_model, state, variant, compare_to,
             progress=gr.Progress()) -> dict:
    """Re-run the traced head with the mistake; the damage is measured against the real one."""
    if state is None:
        raise InputError("Press Trace first: the mistake is made on the traced head.")
    if state["tower"] != "text" or state["text"] is None:
        raise InputError(NOT_TEXT)
    if not variant:
        raise InputError("Pick a mistake first.")
    report = reporter(progress)
    model = resolve_model(ctx, model_name, custom_model, report)
    if model.name != state["model"] or "image" in model.modalities:
        raise InputError(NOT_TEXT if "image" in model.modalities else
                         "The model changed since the trace: press Trace again first.")
    tr = state["trace"]
    report(0.4, "Running the head with the mistake")
    with api.exclusive(model):
        b = api.break_attention(model, state["text"], variant, layer=tr.layer, head=tr.head,
                                compare_to=(compare_to or "").strip() or None)
    broken = getattr(b, "weights_broken", None)
    if broken is not None and getattr(broken, "shape", None) != tr.weights.shape:
        broken = None                                  # one big head: not this head's [T, T]
    fig = glassbox_parts.broken_figure(tr.tokens, tr.weights, broken, variant.replace("_", " "))
    return {"damage": damage_markdown(b), "broken": gr.update(value=fig, visible=True)}


def build(ctx: AppContext, c: dict) -> None:
    with gr.Accordion("Break it on purpose", open=True):
        gr.Markdown("Re-run this head with a classic implementation mistake and measure the "
                    "damage against the real model: how far its weights and the layer's output "
                    "move, and what the model predicts with the mistake in every layer.")
        with gr.Row():
            c["variant"] = gr.Dropdown([], value=None, label="Mistake", scale=3)
            c["compare"] = gr.Textbox(label="Second text (the prediction: similarity to it)",
                                      value=ctx.example_compare, scale=2)
            c["break_btn"] = gr.Button("Break it", scale=1)
        c["damage"] = gr.Markdown()
        c["broken"] = gr.Plot(show_label=False, visible=False)      # shown with a result


def wire(ctx: AppContext, c: dict, comps, model_event: dict) -> None:
    out = ["damage", "broken", MESSAGE]
    c["break_btn"].click(bind(gpu(on_break), ctx, out, release=True),
                         comps(["model", "custom", "state", "variant", "compare"]), comps(out),
                         api_name="break_attention", **model_event)
