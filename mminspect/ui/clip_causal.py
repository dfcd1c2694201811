"""The Image–text tab's causal lab: remove heads of the image tower and see every prompt's
probability before and after; scan every head's importance for one prompt and click a head
in the table to remove it; patch activations from the image into a second (corrupted) one.

Both run on the image and prompts of the last Inspect (kept in the tab's `state`), so what
is removed is measured on exactly what the other panels show.
"""
from __future__ import annotations

import html

import gradio as gr
import numpy as np

from .. import api
from ..figures import causal as cfig
from ..types import InputError
from .causal_panel import MODES, heads_words, progress_stop
from .context import AppContext
from .events import Components, bind, picker, reporter
from .gpu import gpu
from .model_picker import resolve_model

EMPTY = "Press “Scan every head” (after Inspect) to fill this table."
SECOND_IMAGE = "the first of “More images”"
PATCH_CAPTION = ("**Patching between two images.** The picture above is the *clean* image; pick "
                 "a *corrupted* one. Each activation of the clean run is copied, one at a time, "
                 "into the corrupted run, and the map shows how much of the gap in the chosen "
                 "prompt's logit comes back (100 % = that activation alone carries the "
                 "difference). Both images are resized to the model's input, so their tokens "
                 "always line up.")
CAPTION = ("**Remove heads of the image tower.** Pick a layer and a head and remove it (or "
           "replace its output by its average over the image): the bars show each prompt's "
           "probability before (grey) and after (red). **Scan every head** removes each head "
           "alone and colours the table by the change of the chosen prompt's probability "
           "(red = the head supports that prompt); **click a cell** to remove that head. "
           "Works for HF CLIP, open_clip ViTs and mini-CLIP.")


MODE_WORDS = {"zero": "its output set to zero",
              "mean": "its output replaced by its average over the image's tokens"}
MODES = [(words.replace("the text", "the image"), mode) for words, mode in MODES]


def _need_inspect(state) -> dict:
    if state is None:
        raise InputError("Press Inspect first: heads are removed on its image and prompts.")
    return state


def _ablation_result(ctx, model_name, custom_model, state, heads, mode, report) -> dict:
    view = state["view"]
    model = resolve_model(ctx, model_name, custom_model, report)
    report(0.4, f"Removing {heads_words(heads)}")
    with api.exclusive(model):
        abl = api.ablate_heads(model, image=state["image"], prompts=list(view.prompts),
                               heads=heads, mode=mode)
    j = int(np.abs(abl.delta_prob).argmax())
    top_before, top_after = int(abl.probs_before.argmax()), int(abl.probs_after.argmax())
    change = ("the best match stays" if top_before == top_after else "the best match changes to")
    words = (f"Removing **{heads_words(abl.heads)}** ({MODE_WORDS[mode]}): {change} "
             f"**{html.escape(abl.prompts[top_after])}**; the largest change is "
             f"“{html.escape(abl.prompts[j])}”: {abl.probs_before[j]:.3f} → "
             f"{abl.probs_after[j]:.3f} (**{abl.delta_prob[j]:+.3f}**).")
    return {"abl_plot": cfig.clip_ablation_figure(abl), "abl_result": words}


def on_ablate(ctx: AppContext, model_name, custom_model, state, layer, head, mode,
              progress=gr.Progress()) -> dict:
    """Remove the picked head of the image tower."""
    state = _need_inspect(state)
    return _ablation_result(ctx, model_name, custom_model, state, [(int(layer), int(head))],
                            mode, reporter(progress))


def on_scan(ctx: AppContext, model_name, custom_model, state, prompt, mode,
            progress=gr.Progress()) -> dict:
    """Every image-tower head removed alone: the change of `prompt`'s probability."""
    state = _need_inspect(state)
    view = state["view"]
    if prompt not in view.prompts:
        raise InputError("Pick a prompt from the list (Inspect fills it with your prompts).")
    report = reporter(progress)
    model = resolve_model(ctx, model_name, custom_model, report)
    n_layers = int(view.image_attention.shape[1])
    with api.exclusive(model):
        imp = api.head_importance(model, image=state["image"], prompts=list(view.prompts),
                                  prompt=prompt, mode=mode,
                                  should_stop=progress_stop(report, 0.2, 0.95, n_layers,
                                                             "Removing each head in turn"))
    best = imp.top(1)[0]
    summary = (f"{html.escape(imp.target)} = **{imp.before:.3f}** with every head · "
               f"{imp.delta.size} heads removed one at a time in {imp.seconds:.2f} s · "
               f"removing **L{best[0]} H{best[1]}** lowers it most "
               f"({imp.delta[best]:+.3f})")
    return {"abl_imp": {"imp": imp, "model": model_name, "custom": custom_model},
            "abl_table": cfig.importance_table(imp.delta), "abl_summary": summary}


def on_head_click(ctx: AppContext, state, scan, mode, evt: gr.SelectData,
                  progress=gr.Progress()) -> dict:
    """A click on the scan's table removes that head (and moves the pickers to it)."""
    state = _need_inspect(state)
    if scan is None:
        raise InputError("Press “Scan every head” first; then click a head in the table.")
    head = cfig.clicked_head(evt.index, scan["imp"].delta.shape)
    if head is None:
        return {}
    out = _ablation_result(ctx, scan["model"], scan["custom"], state, [head], mode,
                           reporter(progress))
    return out | {"abl_table": cfig.importance_table(scan["imp"].delta, selected=head),
                  "abl_layer": head[0], "abl_head": head[1]}


def _second_image(state: dict, choice: str):
    view = state["view"]
    if choice == SECOND_IMAGE:
        if len(view.images) < 2:
            raise InputError("Add an image under “More images” and press Inspect, or pick an "
                             "example as the corrupted image.")
        return view.images[1]
    return api.load_example(choice).image


def on_image_patch(ctx: AppContext, model_name, custom_model, state, second, prompt, site,
                   progress=gr.Progress()) -> dict:
    """Copy each image-tower activation of the clean image into the corrupted image's run."""
    state = _need_inspect(state)
    view = state["view"]
    if prompt not in view.prompts:
        raise InputError("Pick a prompt from the list (Inspect fills it with your prompts).")
    corrupted = _second_image(state, second)
    report = reporter(progress)
    model = resolve_model(ctx, model_name, custom_model, report)
    n_layers = int(view.image_attention.shape[1])
    with api.exclusive(model):
        p = api.patch_activations(model, state["image"], corrupted, site=site,
                                  prompts=list(view.prompts), prompt=prompt,
                                  should_stop=progress_stop(report, 0.2, 0.95, n_layers,
                                                             "Patching"))
    best = divmod(int(p.restored.argmax()), p.restored.shape[1])
    where = (f"layer {best[0]} at {p.tokens[best[1]]}" if site == "residual"
             else f"head L{best[0]} H{best[1]}")
    summary = (f"{html.escape(p.target)}: clean **{p.clean_value:.3f}**, corrupted "
               f"**{p.corrupted_value:.3f}** · {p.restored.size} patched runs in "
               f"{p.seconds:.2f} s · most restored by {html.escape(where)}: "
               f"**{p.restored.max():.0%}**")
    grid = (site == "residual" and len(p.tokens) - view.grid_rows * view.grid_cols in (0, 1))
    fig = (cfig.patching_grid_figure(p, view.grid_rows, view.grid_cols) if grid
           else cfig.patching_figure(p))
    return {"abl_patch_plot": fig, "abl_patch_summary": summary}


def inspect_outputs(view, best_prompt: str) -> dict:
    """What a new Inspect sets here: the pickers' ranges and prompts; earlier results were
    another run's, so they are cleared."""
    n_layers, n_heads = view.image_attention.shape[1:3]
    return {"abl_layer": gr.update(maximum=n_layers - 1, value=min(n_layers - 1, 0)),
            "abl_head": gr.update(maximum=n_heads - 1, value=0),
            "abl_prompt": gr.update(choices=list(view.prompts), value=best_prompt),
            "abl_imp": None, "abl_table": cfig.empty_importance_table(EMPTY), "abl_summary": "", "abl_result": "",
            "abl_plot": None, "abl_message": "", "abl_patch_summary": "", "abl_patch_plot": None}


INSPECT_OUTPUTS = ["abl_layer", "abl_head", "abl_prompt", "abl_imp", "abl_table", "abl_summary",
                   "abl_result", "abl_plot", "abl_message", "abl_patch_summary", "abl_patch_plot"]


def build(ctx: AppContext, c: Components) -> None:
    """The "Remove heads" sub-tab (inside the Image–text tab's gr.Tabs)."""
    c["abl_imp"] = gr.State(None)
    gr.Markdown(CAPTION)
    with gr.Row():
        c["abl_layer"] = gr.Slider(0, 1, value=0, step=1, label="Image-tower layer")
        c["abl_head"] = gr.Slider(0, 1, value=0, step=1, label="Image-tower head")
        c["abl_mode"] = gr.Radio(MODES, value="zero", label="How a head is removed")
    c["abl_run"] = gr.Button("Remove this head", variant="primary")
    c["abl_message"] = gr.Markdown(elem_classes=["mm-panel-message", "mm-abl-message"])
    c["abl_result"] = gr.Markdown()
    c["abl_plot"] = gr.Plot(show_label=False)
    with gr.Row():
        c["abl_prompt"] = gr.Dropdown(label="Prompt whose probability the scan measures", scale=3)
        c["abl_scan"] = gr.Button("Scan every head", scale=1)
    c["abl_summary"] = gr.Markdown()
    c["abl_table"] = gr.Dataframe(cfig.empty_importance_table(EMPTY),
                                  label="Change of the prompt's probability when the head is "
                                  "removed (click a head)", interactive=False, max_height=420)
    gr.Markdown(PATCH_CAPTION)
    with gr.Row():
        c["abl_second"] = gr.Dropdown([SECOND_IMAGE, *api.list_examples()],
                                      value=api.list_examples()[1], label="Corrupted image", scale=2)
        c["abl_site"] = gr.Radio([("residual stream: layer × image token", "residual"),
                                  ("heads: layer × head", "heads")], value="residual",
                                 label="What is copied", scale=2)
        c["abl_patch"] = gr.Button("Patch", scale=1)
    c["abl_patch_summary"] = gr.Markdown()
    c["abl_patch_plot"] = gr.Plot(show_label=False)


def wire(ctx: AppContext, c: Components) -> None:
    comps = picker(c)

    model = {"concurrency_id": "model", "concurrency_limit": ctx.model_concurrency}
    long = {"concurrency_id": "long", "concurrency_limit": 1}       # ui/lanes.py
    out = ["abl_plot", "abl_result", "abl_message"]
    c["abl_run"].click(bind(gpu(on_ablate), ctx, out, "abl_message", release=True),
                       comps(["model", "custom", "state", "abl_layer", "abl_head", "abl_mode"]),
                       comps(out), api_name="ablate_image_heads", **model)
    out = ["abl_imp", "abl_table", "abl_summary", "abl_message"]
    c["abl_scan"].click(bind(gpu(on_scan), ctx, out, "abl_message", release=True),
                        comps(["model", "custom", "state", "abl_prompt", "abl_mode"]), comps(out),
                        api_name="image_head_importance", **long)
    out = ["abl_patch_summary", "abl_patch_plot", "abl_message"]
    c["abl_patch"].click(bind(gpu(on_image_patch), ctx, out, "abl_message", release=True),
                         comps(["model", "custom", "state", "abl_second", "abl_prompt",
                                "abl_site"]), comps(out), api_name="patch_image_activations",
                         **long)
    out = ["abl_plot", "abl_result", "abl_table", "abl_layer", "abl_head", "abl_message"]
    c["abl_table"].select(bind(gpu(on_head_click), ctx, out, "abl_message"),
                          comps(["state", "abl_imp", "abl_mode"]), comps(out),
                          api_visibility="private", **model)
