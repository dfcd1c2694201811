"""The Image–text tab's "Can I trust this map?" panel: the sanity check of chosen image
methods on the last Inspect's image and the prompt picked in "Every method", run on demand
with progress in the shared model queue, drawn as the same curve as the Attributions tab's.

Mounted by ui/clip_tab.py (`build` inside its "Every method" sub-tab, `wire` with its other
events). Handlers follow ui/events.py: a problem is a message (toast + the panel's own
message line), nothing drawn is wiped; a client that leaves stops the check between maps.
"""
from __future__ import annotations

import gradio as gr

from .. import api
from ..figures import trust as fig
from ..types import InputError
from .events import Components, bind, reporter
from .gpu import gpu
from .model_picker import resolve_model
from .trust_panel import run_checks, summary_markdown

# Fast by default (one pass per map); IG and GradientSHAP are several times slower.
DEFAULT_METHODS = ("relevance", "rollout")
MESSAGE = "isanity_message"
CAPTION = (
    "**Can I trust this map?** The sanity check (Adebayo et al. 2018) re-initialises the "
    "image tower's blocks from the top down, on a copy of the model, and redraws the map "
    "after each: the line is its rank correlation (Spearman, over patches) with the trained "
    "model's map. A method **passes** when its mean over the shaded steps (top half random "
    "or more) is below the dashed line. It also explains a *random prompt* with the trained "
    "model: a map that stays the same then does not show what your prompt picked out. Runs "
    "on the image of the last Inspect and the prompt above.")


def _labels() -> dict[str, str]:
    return {m["name"]: m["label"] for m in api.list_image_methods()}


def on_image_sanity(ctx, model_name, custom_model, state, prompt, methods,
                    progress=gr.Progress()) -> dict:
    """The sanity check of each chosen image method on this image and prompt."""
    if not methods:
        raise InputError("Choose at least one method to check (the boxes above the button).")
    if state is None:
        raise InputError("Press Inspect first: the check runs on its image.")
    if not prompt:
        raise InputError("Pick a prompt from the list above (Inspect fills it with your prompts).")
    report = reporter(progress)
    model = resolve_model(ctx, model_name, custom_model, report)
    labels = _labels()
    checks = run_checks(model, methods, labels, report, image=state["image"], prompt=prompt)
    return {"isanity_plot": fig.sanity_figure(checks, labels),
            "isanity_summary": summary_markdown(checks, labels)}


def build(ctx, c: Components) -> None:
    """The panel's components, in an accordion (inside the current sub-tab)."""
    labels = _labels()
    with gr.Accordion("Can I trust this map? (sanity check)", open=False):
        gr.Markdown(CAPTION)
        c["isanity_methods"] = gr.CheckboxGroup([(v, k) for k, v in labels.items()],
                                                value=list(DEFAULT_METHODS),
                                                label="Image methods to check")
        c["isanity_run"] = gr.Button("Run the image sanity check")
        c[MESSAGE] = gr.Markdown(elem_classes=["mm-panel-message", "mm-isanity-message"])
        c["isanity_summary"] = gr.Markdown()
        c["isanity_plot"] = gr.Plot(show_label=False)


def wire(ctx, c: Components) -> None:
    """Model, image (the tab's state), prompt and methods in; curve, summary, message out."""
    out = ["isanity_plot", "isanity_summary", MESSAGE]
    c["isanity_run"].click(
        bind(gpu(on_image_sanity), ctx, out, MESSAGE, release=True),
        [c[n] for n in ("model", "custom", "state", "method_prompt", "isanity_methods")],
        [c[n] for n in out], api_name="image_sanity_check", concurrency_id="long",
        concurrency_limit=1)
