"""The model picker every tab uses: bundled models first, a curated list of hub checkpoints
("downloads on first use"), and, unless the server turns it off, a free-text box for a hub
id or a local folder."""
from __future__ import annotations

import gradio as gr

from .. import api
from ..types import InputError
from .context import AppContext


def picker_choices(ctx: AppContext, modality: str = "text") -> list[tuple[str, str]]:
    """(label, name) pairs for one modality's dropdown, bundled first (list_models' order)."""
    return [(m["label"], m["name"]) for m in ctx.models if m["modality"] == modality]


def build_picker(ctx: AppContext, modality: str = "text") -> tuple[gr.Dropdown, gr.Textbox]:
    choices = picker_choices(ctx, modality)
    dropdown = gr.Dropdown(choices=choices, value=choices[0][1], label="Model")
    custom = gr.Textbox(label="…or a Hugging Face id / local folder", placeholder="e.g. gpt2",
                        visible=ctx.allow_custom_models, max_length=300)
    return dropdown, custom


def resolve_model(ctx: AppContext, choice: str, custom: str | None, progress=None):
    """The adapter for the picker's state: the free-text box wins when filled (and allowed)."""
    name = (custom or "").strip()
    if name and not ctx.allow_custom_models:
        raise InputError("This server only offers the models in the list (custom models are "
                         "turned off by MMINSPECT_ALLOW_CUSTOM_MODELS=0).")
    name = name or choice
    if progress is not None:
        bundled = name in ctx.bundled
        progress(0.05, desc=f"Loading {name}" + ("" if bundled else " (downloads on first use)"))
    return api.load(name)
