"""Compare mode of the Image–text tab: the image and model above (A) against image B and
model B on the same prompts: the prediction change, the image tower's attention per layer
and head, and each prompt's relevance per patch, A − B.

Image B is the same image, an upload, or the scene itself with one object removed (the
"object removed" button sets image A and image B together, from the world generator).
"""
from __future__ import annotations

import html

import gradio as gr

from .. import api
from ..figures import clip as cfig
from ..figures.compare import compare_head_figure, head_change_figure, patch_change_figure
from ..types import InputError
from .compare_view import SAME, summary_markdown
from .context import AppContext
from .events import bind, message_markdown, reporter
from .gpu import gpu
from .inputs import parse_prompts
from .model_picker import picker_choices, resolve_model
from .share import LinkField

MESSAGE = "icmp_message"
CAPTION = ("**Compare A and B.** A is the image, model and prompts above. B: another image "
           "(upload one, or press *Scene without one object*) and/or another model, on the same "
           "prompts. Attention is compared patch by patch (Jensen–Shannon per query row: 0 = the "
           "same, 0.69 = nothing in common); each relevance map is divided by its own largest "
           "value, because two models' units differ.")

# What a link to the Image–text tab carries of the comparison: model B by name, and "scene" =
# "seed,index" when A and B are a world scene and the same scene without one object (an
# uploaded image B is never put in a link). Either opens the panel and presses its button
# (links.LINK_RUNS). The hidden box icmp_scene holds that value while the pair is image A/B.
LINK_FIELDS = (LinkField("model_b", "icmp_model_b", "choice", default=SAME, choices=(SAME,) + tuple(
                   m["name"] for m in api.list_models() if m["modality"] == "image")),
               LinkField("scene", "icmp_scene", default=""))
LINK_OUTPUTS = ("icmp_accordion", "image", "preview", "example", "upload",
                "icmp_image_b", "icmp_preview_b", "icmp_note", "icmp_seed", "icmp_index", MESSAGE)
MAX_SEED = 10**6
REFUSED = "?refused"                  # links.on_open_link: a value this tab's opener refused


def _scene(raw: str) -> tuple[int, int]:
    parts = str(raw).split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InputError(f"“scene” must be two whole numbers, seed,scene; the link has {raw[:20]!r}")
    seed, index = (int(p) for p in parts)
    if seed > MAX_SEED or index > MAX_SEED:
        raise InputError(f"“scene” numbers must be at most {MAX_SEED}")
    return seed, index


def open_link(ctx: AppContext, values: dict) -> dict:
    """A link with model B or a scene pair opens the panel; a scene sets images A and B."""
    if not (values.get("icmp_scene") or values.get("icmp_model_b") not in (None, SAME)):
        return {}
    out = {"icmp_accordion": gr.Accordion(open=True)}
    if values.get("icmp_scene"):
        try:
            seed, index = _scene(values["icmp_scene"])
            pair = on_removed_pair(ctx, seed, index)
            # the example list keeps its value: the tab's first-view event, which the link's
            # opening of the tab fires, refuses an empty one (example=None already says that
            # image A is not the example)
            del pair["pick"]
            out |= pair | {"icmp_seed": seed, "icmp_index": index}
        except InputError as e:
            # said in the panel as well: the tab's own line is cleared when the tab, opening,
            # draws its first view
            out |= {"icmp_scene": "", REFUSED: [str(e)], MESSAGE: message_markdown(
                f"Opened from a link, except: {e}")}
    return out


def on_removed_pair(ctx: AppContext, seed, index) -> dict:
    """A world scene as image A and the same scene without one object as image B."""
    a, b, name = api.object_removed_pair(int(seed), int(index))
    big = cfig.upscale(a, 256)
    return {"image": a, "preview": big, "example": None, "pick": None, "upload": None,
            "icmp_image_b": b, "icmp_preview_b": cfig.upscale(b, 256),
            "icmp_scene": f"{int(seed)},{int(index)}",
            "icmp_note": f"Image B is image A without the **{html.escape(name)}**."}


def on_a_replaced(ctx: AppContext) -> dict:
    """Image A picked or uploaded by hand: the scene pair is no longer what the link should say."""
    return {"icmp_scene": ""}


def on_upload_b(ctx: AppContext, data) -> dict:
    if data is None:
        return {"icmp_image_b": None, "icmp_preview_b": None, "icmp_note": "", "icmp_scene": ""}
    image = api.read_image(data, "image B")
    return {"icmp_scene": "", "icmp_image_b": image, "icmp_preview_b": cfig.upscale(image, 256)
            if min(image.shape[:2]) < 128 else image, "icmp_note": "Image B: your upload."}


def on_compare_images(ctx: AppContext, model_name, custom_model, image, prompts_text, template,
                      image_b, model_b, progress=gr.Progress()) -> dict:
    if image is None:
        raise InputError("No image A: pick an example or upload an image above first.")
    report = reporter(progress)
    model = resolve_model(ctx, model_name, custom_model, report)
    other = model if model_b in (SAME, None, "") else resolve_model(ctx, model_b, None)
    if image_b is None and other is model:
        raise InputError("Give B something to differ in: upload image B, press “Scene without "
                         "one object”, or pick another model B.")
    report(0.3, "Running A and B")
    diff = api.compare_images(model, image, parse_prompts(prompts_text), image_b=image_b,
                              model_b=other, template=(template or "").strip() or None)
    out = {"icmp_state": diff, "icmp_a": image, "icmp_summary": summary_markdown(ctx, diff) if diff.head_js is not None
           else "\n\n".join(diff.prediction + diff.notes),
           "icmp_prompt": gr.update(choices=list(diff.a.prompts), value=diff.a.prompts[0])}
    if diff.head_js is not None:
        layer, head, _ = diff.top_heads[0]
        out |= {"icmp_heads": head_change_figure(diff), "icmp_figure": compare_head_figure(diff, layer, head)}
    if diff.patch_a is not None:
        out["icmp_maps"] = patch_change_figure(diff, 0)
    return out


def on_prompt(ctx: AppContext, state, prompt) -> dict:
    if state is None:
        raise InputError("Press Compare first: there is no comparison to show yet.")
    if state.patch_a is None or prompt not in state.a.prompts:
        return {}
    return {"icmp_maps": patch_change_figure(state, state.a.prompts.index(prompt))}


def build(ctx: AppContext, c: dict) -> None:
    gr.Markdown(CAPTION)
    c["icmp_state"] = gr.State(None)
    c["icmp_image_b"] = gr.State(None)
    c["icmp_a"] = gr.State(None)                # image A as compared, for Save report
    with gr.Row():
        with gr.Column(scale=2):
            c["icmp_preview_b"] = gr.Image(label="Image B", interactive=False, height=220)
            c["icmp_upload_b"] = gr.File(label="Upload image B", file_types=["image"], type="binary")
            c["icmp_note"] = gr.Markdown()
        with gr.Column(scale=2):
            with gr.Row():
                c["icmp_seed"] = gr.Number(0, label="World seed", precision=0, minimum=0)
                c["icmp_index"] = gr.Number(1, label="Scene", precision=0, minimum=0)
            c["icmp_pair"] = gr.Button("Scene without one object (sets A and B)")
            c["icmp_model_b"] = gr.Dropdown([("Same model as A", SAME)] + picker_choices(ctx, "image"),
                                            value=SAME, label="Model B")
            c["icmp_run"] = gr.Button("Compare A and B", variant="primary", elem_id="icmp-run")
            c["icmp_scene"] = gr.Textbox(visible=False)      # "seed,index" of a scene pair
            c[MESSAGE] = gr.Markdown(elem_classes="mm-icmp-message")
    c["icmp_summary"] = gr.Markdown()
    c["icmp_prompt"] = gr.Dropdown([], label="Prompt whose relevance maps to compare")
    c["icmp_maps"] = gr.Plot(show_label=False)
    c["icmp_figure"] = gr.Plot(show_label=False)
    c["icmp_heads"] = gr.Plot(show_label=False)
    wire(ctx, c)


def wire(ctx: AppContext, c: dict) -> None:
    def comps(names):
        return [c[n] for n in names]

    quick = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}
    pair_out = ["image", "preview", "example", "pick", "upload", "icmp_image_b", "icmp_preview_b",
                "icmp_scene", "icmp_note", MESSAGE]
    c["icmp_pair"].click(bind(on_removed_pair, ctx, pair_out, message=MESSAGE),
                         comps(["icmp_seed", "icmp_index"]), comps(pair_out), **quick)
    up_out = ["icmp_image_b", "icmp_preview_b", "icmp_note", "icmp_scene", MESSAGE]
    c["icmp_upload_b"].change(bind(on_upload_b, ctx, up_out, message=MESSAGE),
                              comps(["icmp_upload_b"]), comps(up_out), **quick)
    replaced = bind(on_a_replaced, ctx, ["icmp_scene", MESSAGE], message=MESSAGE)
    c["pick"].input(replaced, None, comps(["icmp_scene", MESSAGE]), **quick)
    c["upload"].upload(replaced, None, comps(["icmp_scene", MESSAGE]), **quick)
    out = ["icmp_state", "icmp_summary", "icmp_prompt", "icmp_maps", "icmp_figure", "icmp_heads",
           MESSAGE, "icmp_a"]
    c["icmp_run"].click(bind(gpu(on_compare_images), ctx, out, message=MESSAGE, release=True),
                        comps(["model", "custom", "image", "prompts", "template", "icmp_image_b",
                               "icmp_model_b"]), comps(out), api_name="compare_images",
                        concurrency_id="model", concurrency_limit=ctx.model_concurrency)
    c["icmp_prompt"].input(bind(on_prompt, ctx, ["icmp_maps", MESSAGE], message=MESSAGE),
                           comps(["icmp_state", "icmp_prompt"]), comps(["icmp_maps", MESSAGE]), **quick)
