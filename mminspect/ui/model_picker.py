"""The model picker every tab uses: bundled models first, a curated list of hub checkpoints
("downloads on first use"), and, unless the server turns it off, a free-text box for a hub
id or a local folder."""
from __future__ import annotations

import gradio as gr

from .. import api
from ..types import InputError
from .context import AppContext
from .hosting import custom_models_refusal


OFFLINE = " — not available offline (no internet here and not in the local cache)"


def picker_choices(ctx: AppContext, modality: str = "text") -> list[tuple[str, str]]:
    """(label, name) pairs for one modality's dropdown, bundled first (list_models' order);
    hub models that cannot be opened here are marked, not hidden: the list stays the same
    on every server, and the message on picking one says what to do."""
    return [(m["label"].replace(" (downloads on first use)", "") + OFFLINE
             if m["name"] in ctx.unavailable else m["label"], m["name"])
            for m in ctx.models if m["modality"] == modality]


def model_label(ctx: AppContext, name: str) -> str:
    """What people see for a model: its label's first part, else the name they typed."""
    return next((m["label"].split(" · ")[0] for m in ctx.models if m["name"] == name), name)


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
        raise InputError(custom_models_refusal())
    name = name or choice
    if name in ctx.unavailable:
        raise InputError(f"{model_label(ctx, name)} is not available offline: this server has no "
                         "internet and the model is not in its local cache. Pick a bundled "
                         "model (" + ", ".join(model_label(ctx, n) for n in sorted(ctx.bundled))
                         + ") or run the app where the hub is reachable.")
    if progress is not None:
        bundled = name in ctx.bundled
        progress(0.05, desc=f"Loading {model_label(ctx, name)}"
                 + ("" if bundled else " (downloads on first use)"))
    # with the box off, the registry answers every unlisted name alike (no probing of folders)
    return api.load(name, allow_custom=ctx.allow_custom_models)
