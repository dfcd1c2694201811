"""The Image–text tab: how a CLIP-style model picks a label (cosine -> logit scale ->
softmax), which patches and words carried it, and attention over the patch grid.

`on_inspect` runs the model once (one pass of both towers gives the similarity of every image
to every prompt and the relevance and patch–text maps of every prompt) and keeps the result
in `gr.State`; contrast maps, attention sliders and the text-tower view only redraw. "Every
method" (clip_methods.py) runs every image method on one prompt, with its faithfulness numbers. Uploads are
decoded by the app (not by gradio), so a bad file gets the app's own message.
"""
from __future__ import annotations

import functools
import html

import gradio as gr
import numpy as np

from .. import api
from ..figures import clip as cfig
from ..types import InputError
from . import clip_causal, compare_clip, dataset_images
from .clip_captions import CAPTIONS, GALLERY_CSS, GALLERY_HEIGHT
from .clip_methods import on_all_methods, pointing_markdown
from .clip_views import (SCALES, by_probability, chain_summary, contrast_view, on_patch_select,
                         redraw_attention, redraw_contrast, redraw_relevance,
                         redraw_text_attention, relevance_gallery, scale_note,
                         similarity_gallery, text_attention_figure)
from .context import AppContext
from .events import MESSAGE, Components, bind, message_markdown, on_any, picker, reporter
from .guards import may_be_empty
from . import trust_image
from .gpu import gpu
from .inputs import parse_prompts
from .model_picker import build_picker, model_label, resolve_model
from .compare_export import wire_compare_exports
from .share import LinkField, TabLink, build_exports, wire_url

def _preview(image) -> np.ndarray:
    """What the preview shows: small pictures (the 64 px scenes) enlarged pixel by pixel, so
    they are not a stamp in the middle of the box; the model still gets the original."""
    a = np.asarray(image)
    return cfig.upscale(a, 256) if min(a.shape[:2]) < 128 else a


def _dropdown(choices: list[str], value: str) -> dict:
    # A fresh update per output: gradio consumes the dict it is given, so one shared update
    # object fills the first dropdown and leaves the next ones empty.
    return gr.update(choices=list(choices), value=value)


def on_inspect(ctx: AppContext, model_name, custom_model, image, more_images, prompts_text,
               template, example, scale="own", progress=gr.Progress()) -> dict:
    """One pass of the model: similarity of every image to every prompt, and the relevance
    and patch–text maps of every prompt for the first image, all from the same forward.
    scale: the relevance maps' colour scale ("own" per map, or "shared")."""
    report = reporter(progress)
    model = resolve_model(ctx, model_name, custom_model, report)
    if image is None:
        # nothing shown (a rejected or cleared upload): never analyse an image no longer shown
        raise InputError("No image to inspect: upload an image (PNG, JPEG, GIF, BMP, WebP) or "
                         "pick an example.")
    report(0.3, "Similarity, relevance and patch maps of every prompt (one pass)")
    with api.exclusive(model):
        view = api.inspect_clip(model, [image, *(more_images or [])], parse_prompts(prompts_text),
                                (template or "").strip() or None, maps=True)
    return _outputs(ctx, model, view, image, example, scale)


def _outputs(ctx: AppContext, model, view, image, example, scale) -> dict:
    """Every panel of one Inspect, drawn from its view (no model work)."""
    expl = view.maps
    state = {"view": view, "expl": expl, "example": example, "image": image}
    probs = dict(zip(view.prompts, view.probs[0].astype(float)))
    order = list(np.argsort(-view.probs[0]))
    a, b = view.prompts[order[0]], view.prompts[order[1 if len(order) > 1 else 0]]
    n_layers, n_heads = view.image_attention.shape[1:3]
    name = model_label(ctx, model.name)
    summary = (f"**{html.escape(name)}** on {model.device} · best match: "
               f"**{html.escape(view.top(0))}** (p = {view.probs[0].max():.2f}) · "
               f"{chain_summary(view)} · {view.grid_rows}×{view.grid_cols} "
               f"patches · maps in {expl.seconds:.2f} s")
    warning = api.domain_note(model, image)
    notes = ([f"🚩 **{html.escape(warning)}**"] if warning else []) + [
        f"⚠️ {html.escape(n, quote=False)}" for n in view.notes]
    out = {"state": state, "label": probs, "summary": summary, "notes": "\n\n".join(notes),
           "steps": cfig.prediction_steps_figure(view), "matrix": cfig.similarity_matrix_figure(view),
           "rel": relevance_gallery(state, scale), "rel_note": scale_note(state, scale),
           "sims": similarity_gallery(state),
           "words": "<br>".join(f"<b>{html.escape(expl.maps[i].prompt)}</b>: "
                                + cfig.word_relevance_html(expl.maps[i].words,
                                                           expl.maps[i].word_scores)
                                for i in by_probability(state) if expl.maps[i].words),
           "pca": cfig.embedding_figure(view),
           "a": _dropdown(view.prompts, a), "b": _dropdown(view.prompts, b),
           "method_prompt": _dropdown(view.prompts, a), "text_prompt": _dropdown(view.prompts, a),
           "layer": gr.update(maximum=n_layers - 1, value=n_layers - 1),
           "head": gr.update(maximum=n_heads - 1, value=0),
           "query": _dropdown(view.image_tokens, view.image_tokens[0]),
           "patches": cfig.attention_over_patches(view, 0, n_layers - 1, 0, 0),
           "text_att": text_attention_figure(state, a),
           "method_maps": [], "method_table": "",    # earlier method maps were another run's
           **clip_causal.inspect_outputs(view, a)}
    if a != b:
        out |= contrast_view(state, a, b)
    return out


# The first view: the page opens on mini-CLIP 2's everyday-object example, shown with its
# results when the tab is first opened. The view is the same for every visitor, so it is
# computed once (on the first opening, not at start-up) and kept: {(model, example): view}.
FIRST_VIEWS: dict = {}


def first_example(ctx: AppContext) -> tuple[str, str]:
    """(example title, model) the tab opens on: an everyday scene of mini-CLIP 2, where it
    can be opened here, else the first example on mini-CLIP."""
    for title in api.list_examples():
        ex = api.load_example(title)
        if ex.model == "miniclip2" and "miniclip2" not in ctx.unavailable:
            return title, ex.model
    return api.list_examples()[0], "miniclip"


def on_first_view(ctx: AppContext, state, model_name, custom_model, pick, prompts_text, template,
                  example, scale, progress=gr.Progress()) -> dict:
    """The tab opened: the default example's results, if nothing was run or changed yet (a
    link or a visitor's edit wins: then nothing is drawn that the inputs do not show)."""
    title, default_model = first_example(ctx)
    ex = api.load_example(title)
    if (state is not None or (custom_model or "").strip() or model_name != default_model
            or pick != title or example != title or (template or "").strip()
            or parse_prompts(prompts_text) != list(ex.prompts)):
        return {}
    model = resolve_model(ctx, model_name, None, reporter(progress))
    key = (model.name, title)
    if key not in FIRST_VIEWS:
        with api.exclusive(model):
            FIRST_VIEWS[key] = api.inspect_clip(model, [ex.image], list(ex.prompts), None,
                                                maps=True)
    return _outputs(ctx, model, FIRST_VIEWS[key], ex.image, title, scale)


def on_inspect_file(ctx: AppContext, model_name, custom_model, data, prompts_text, template,
                    progress=gr.Progress()) -> dict:
    """The API's Inspect: an image file instead of the page's picked / uploaded image."""
    if data is None:
        raise InputError("Send an image file.")
    image = api.read_image(data, "the image")
    return on_inspect(ctx, model_name, custom_model, image, [], prompts_text, template, None,
                      "own", progress)


def on_upload(ctx: AppContext, data) -> dict:
    """Decode the uploaded file ourselves (Pillow, with its size limits), so a broken or odd
    file gets the app's message and every conversion is said on screen."""
    if data is None:
        return {}
    notes: list[str] = []
    try:
        image = api.read_image(data, "the uploaded image", notes)
    except InputError as e:
        # The upload replaced what was shown: keeping the earlier picture in the preview made
        # Inspect silently analyse it. Empty both; Inspect then says there is no image.
        gr.Warning(str(e))
        return {"image": None, "preview": None, "example": None, "pick": None,
                MESSAGE: message_markdown(str(e))}
    # the example list no longer names what is shown (and pointing has no mask for it)
    return {"image": image, "preview": _preview(image), "example": None, "pick": None,
            MESSAGE: "\n\n".join(message_markdown(n, "info") for n in notes)}


def on_upload_clear(ctx: AppContext, example) -> dict:
    """The upload box emptied by its ×: an uploaded image is no longer there to analyse, so
    the preview and the image go too (an example, when one is shown, stays: picking one
    empties the box)."""
    if example:
        return {}
    return {"image": None, "preview": None}


def on_more_upload(ctx: AppContext, files) -> dict:
    """The extra images as the file list now holds them: added, one removed (its ×) or all
    cleared; the preview gallery shows only when there are some."""
    notes: list[str] = []
    images = [api.read_image(d, f"extra image {i + 1}", notes) for i, d in enumerate(files or [])]
    return {"more": images, "more_preview": gr.update(value=images, visible=bool(images)),
            MESSAGE: "\n\n".join(message_markdown(n, "info") for n in notes)}


def on_example(ctx: AppContext, title) -> dict:
    """The example's image and prompts; an example made for one bundled model (mini-CLIP 2's
    everyday scenes) also picks that model, and empties the free-text model box. The upload
    box is emptied: it no longer holds what is shown."""
    ex = api.load_example(title)
    out = {"image": ex.image, "preview": _preview(ex.image), "prompts": "\n".join(ex.prompts),
           "template": ex.template or "", "example": title, "upload": None}
    if ex.model is not None and ex.model not in ctx.unavailable:
        out |= {"model": ex.model, "custom": ""}
    return out


def open_example_link(ctx: AppContext, values: dict) -> dict:
    """A link names its example image by title: load the image too (the link's own prompts
    and template win over the example's)."""
    if "pick" not in values:
        return {}
    out = on_example(ctx, values["pick"])
    return {k: v for k, v in out.items() if k not in values}



def open_links(ctx: AppContext, values: dict) -> dict:
    """The example a link names, then its Compare A/B part (a scene pair replaces image A)."""
    return (open_example_link(ctx, values) | compare_clip.open_link(ctx, values)
            | dataset_images.open_set_scene(ctx, values))    # a Dataset tab row's scene


SUBTABS = ("prediction", "why", "contrast", "methods", "attention", "heads", "prompt", "space")
LINK = TabLink("image-text", "image", (
    LinkField("model", "model", "model"), LinkField("model", "custom", "model"),
    LinkField("example", "pick", "choice", choices=tuple(api.list_examples())),
    LinkField("prompts", "prompts"), LinkField("template", "template"),
    LinkField("view", "views", "subtab", choices=SUBTABS), *compare_clip.LINK_FIELDS,
    LinkField("set_scene", "set_scene", default="")),
    "image-text-run", extra_outputs=("image", "preview", "example", "upload",
                                     *compare_clip.LINK_OUTPUTS), on_open=open_links)


def build(ctx: AppContext) -> dict:
    """Lay out the Image–text tab inside the current Blocks and wire its events."""
    from gradio.context import Context
    tab = Context.block                         # the app's "Image–text" tab, for its opening
    examples = api.list_examples()
    title, default_model = first_example(ctx)
    first = api.load_example(title)
    # The default example is the picked one: its masks (pointing) work on a fresh page.
    c = Components(state=gr.State(None), example=gr.State(title),
                   image=gr.State(first.image), more=gr.State([]))
    with gr.Row():
        with gr.Column(scale=2):
            c["preview"] = gr.Image(value=_preview(first.image), label="Image the model sees "
                                    "(before its own resize)", interactive=False, height=260)
            c["upload"] = gr.File(label="Upload an image (PNG, JPEG, GIF, BMP, WebP)",
                                  file_types=["image"], type="binary", height=150)
            c["more_files"] = gr.File(label="More images (optional): an images × prompts matrix",
                                      file_types=["image"], type="binary", file_count="multiple",
                                      height=150)
            c["more_preview"] = gr.Gallery(label="More images", interactive=False, columns=6,
                                           height=GALLERY_HEIGHT, visible=False)
        with gr.Column(scale=3):
            c["pick"] = may_be_empty(gr.Dropdown(examples, value=title, label="Example"))
            c["prompts"] = gr.Textbox(label="Prompts, one per line", lines=5,
                                      value="\n".join(first.prompts))
            c["template"] = gr.Textbox(label="Template (optional), e.g. a photo of {}", value="")
            c["model"], c["custom"] = build_picker(ctx, "image")
            c["model"].value = default_model             # the first view's model
            run = gr.Button("Inspect", variant="primary", elem_id=LINK.run_button)
            c[MESSAGE] = gr.Markdown(elem_classes="mm-message")
    with gr.Accordion("Compare A/B: a second image or model on the same prompts",
                      open=False) as c["icmp_accordion"]:
        compare_clip.build(ctx, c)
    c["notes"] = gr.Markdown()
    gr.HTML(GALLERY_CSS, container=False, padding=False)
    with gr.Row():
        c["label"] = gr.Label(label="Probabilities", num_top_classes=8)
        c["summary"] = gr.Markdown()
    save_json, save_report = build_exports(c)
    views = {}
    with gr.Tabs() as c["views"]:
        with gr.Tab("Prediction", id="prediction") as views["prediction"]:
            c["steps"] = gr.Plot(show_label=False)
            gr.Markdown(CAPTIONS["steps"])
            with gr.Accordion("Details: SigLIP's sigmoid", open=False):
                gr.Markdown(CAPTIONS["steps_details"])
            c["matrix"] = gr.Plot(show_label=False)
        with gr.Tab("Why this label", id="why") as views["why"]:
            gr.Markdown(CAPTIONS["relevance"])
            c["scale"] = gr.Radio(SCALES, value="own", label="Colour scale of the maps")
            c["rel_note"] = gr.Markdown()
            c["rel"] = gr.Gallery(label="Relevance", columns=4, height=GALLERY_HEIGHT,
                                  object_fit="contain", elem_classes="mm-gallery")
            c["words"] = gr.HTML()
            gr.Markdown(CAPTIONS["similarity"])
            c["sims"] = gr.Gallery(label="Patch–text similarity", columns=4, height=GALLERY_HEIGHT,
                                   object_fit="contain", elem_classes="mm-gallery")
        with gr.Tab("A rather than B", id="contrast") as views["contrast"]:
            with gr.Row():
                c["a"] = gr.Dropdown(label="A")
                c["b"] = gr.Dropdown(label="B")
            c["contrast"] = gr.Image(label="A − B", interactive=False, height=380)
            c["contrast_md"] = gr.Markdown()
            gr.Markdown(CAPTIONS["contrast"])
        with gr.Tab("Every method", id="methods") as views["methods"]:
            gr.Markdown(CAPTIONS["methods"])
            with gr.Accordion("Details: how the numbers are measured", open=False):
                gr.Markdown(CAPTIONS["methods_details"])
            with gr.Row():
                c["method_prompt"] = gr.Dropdown(label="Prompt")
                run_all = gr.Button("Run every method on this prompt")
            c["method_table"] = gr.HTML()
            c["method_maps"] = gr.Gallery(label="Maps", columns=4, height=GALLERY_HEIGHT,
                                          object_fit="contain", elem_classes="mm-gallery")
            with gr.Accordion("Pointing game: which maps find the object, on many scenes",
                              open=False):
                c["pointing_md"] = gr.Markdown(pointing_markdown(default_model))
            trust_image.build(ctx, c)
        with gr.Tab("Attention over patches", id="attention") as views["attention"]:
            with gr.Row():
                c["layer"] = gr.Slider(0, 1, value=0, step=1, label="Layer")
                c["head"] = gr.Slider(0, 1, value=0, step=1, label="Head")
                c["query"] = gr.Dropdown(label="Query token")
            c["patches"] = gr.Image(label="Attention", interactive=False, height=400)
            gr.Markdown(CAPTIONS["attention"])
        with gr.Tab("Remove heads", id="heads") as views["heads"]:
            clip_causal.build(ctx, c)
        with gr.Tab("Prompt attention", id="prompt") as views["prompt"]:
            c["text_prompt"] = gr.Dropdown(label="Prompt")
            c["text_att"] = gr.Plot(show_label=False)
            gr.Markdown(CAPTIONS["text"])
        with gr.Tab("Embedding space", id="space") as views["space"]:
            c["pca"] = gr.Plot(show_label=False)
            gr.Markdown(CAPTIONS["pca"])
    c["api_inspect"] = gr.Button(visible=False)
    c["set_scene"] = gr.Textbox(visible=False)          # "scenes:12": a Dataset row's scene
    c["example"].change(bind(dataset_images.on_example_changed, ctx, ["set_scene"], message=None),
                        [c["example"], c["set_scene"]], c["set_scene"], queue=False,
                        api_visibility="private")
    wire(ctx, c, run, run_all)
    if isinstance(tab, gr.Tab):                 # built inside the app's tab (not in a test)
        tab.select(bind(gpu(on_first_view), ctx, [*INSPECT_OUT, MESSAGE]), [c[n] for n in FIRST_VIEW_IN],
                   [c[n] for n in [*INSPECT_OUT, MESSAGE]], api_visibility="private",
                   concurrency_id="model", concurrency_limit=ctx.model_concurrency)
    wire_compare_exports(ctx, c, save_json, save_report, ["state"], "icmp_state", "image",
                         "icmp_a")
    wire_url(c, LINK, {"view": views})
    return c


INSPECT_OUT = ["state", "label", "summary", "notes", "steps", "matrix", "rel", "sims", "words",
               "pca", "contrast", "contrast_md", "a", "b", "method_prompt", "text_prompt",
               "layer", "head", "query", "patches", "text_att", "method_maps", "method_table",
               *clip_causal.INSPECT_OUTPUTS, "rel_note"]         # new outputs last: API order
FIRST_VIEW_IN = ["state", "model", "custom", "pick", "prompts", "template", "example", "scale"]


def wire(ctx: AppContext, c: dict, run, run_all) -> None:
    comps = picker(c)

    def on(trigger, fn, inputs, outputs, message=MESSAGE, release=False, **kw):
        names = [*outputs, message] if message else outputs
        trigger(bind(fn, ctx, names, message, release), comps(inputs), comps(names), **kw)

    quick = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}
    on(c["pick"].input, on_example, ["pick"],
       ["image", "preview", "prompts", "template", "example", "model", "custom", "upload"], **quick)
    on(c["upload"].upload, on_upload, ["upload"], ["image", "preview", "example", "pick"],
       concurrency_limit=None, api_visibility="private", release=True)
    on(c["upload"].clear, on_upload_clear, ["example"], ["image", "preview"], **quick)
    # change, not upload: removing one file (its ×) or clearing the list must drop its image
    on(c["more_files"].change, on_more_upload, ["more_files"], ["more", "more_preview"],
       concurrency_limit=None, api_visibility="private", release=True)
    model = {"concurrency_id": "model", "concurrency_limit": ctx.model_concurrency}
    inspect_out = INSPECT_OUT
    on(run.click, gpu(on_inspect),
       ["model", "custom", "image", "more", "prompts", "template", "example", "scale"],
       inspect_out,
       api_visibility="private", **model, release=True)
    # For API users (the page's image lives in a State the API cannot send): a file in.
    on(c["api_inspect"].click, gpu(on_inspect_file),
       ["model", "custom", "upload", "prompts", "template"], inspect_out,
       api_name="inspect_clip", **model, release=True)
    on(run_all.click, gpu(on_all_methods), ["model", "custom", "state", "method_prompt"],
       ["method_maps", "method_table", "pointing_md"], api_name="explain_methods",
       concurrency_id="long", concurrency_limit=1,
       release=True)
    on(functools.partial(on_any, [c["a"].input, c["b"].input]), redraw_contrast,
       ["state", "a", "b"], ["contrast", "contrast_md"], **quick)
    # the query also moves when a patch is clicked (a change, not an input)
    on(functools.partial(on_any, [c["layer"].input, c["head"].input, c["query"].change]),
       redraw_attention, ["state", "layer", "head", "query"], ["patches"], **quick)
    on(c["scale"].input, redraw_relevance, ["state", "scale"], ["rel", "rel_note"], **quick)
    on(c["patches"].select, on_patch_select, ["state"], ["query"], **quick)
    clip_causal.wire(ctx, c)
    trust_image.wire(ctx, c)
    on(c["text_prompt"].input, redraw_text_attention, ["state", "text_prompt"], ["text_att"],
       **quick)
