"""The Fusion tab: a model that reads image and text in ONE transformer (our bundled
concatenation model, trained on mini-CLIP 2's world). One run gives the matching probability,
the words for each [MASK] and the joint attention of every layer and head; the layer, head,
word and patch controls only redraw from the kept result (no model run).

Views: the joint attention with its four blocks, each block's share by layer, the chosen
word's map over the image (heads averaged and head by head), the words that read the chosen
patch, and the pointing game of every object word against its exact mask."""
from __future__ import annotations

import gradio as gr

from .. import api
from ..api import fusion as fusion_api
from ..figures import fusion as figs
from ..types import InputError
from . import fusion_caption
from . import fusion_caption_lab
from . import fusion_lab
from .context import AppContext
from .events import MESSAGE, Components, bind, on_any

MODEL = "fusion"
MEAN = "heads averaged"
RECIPE = ("**Pointing game** (the same rule as the image–text tab's table): a word's map — its "
          "attention to the 64 patches, heads averaged, at the layer above — *hits* when its "
          "largest patch touches the object's exact mask. *Energy in mask*: the share of the "
          "map's mass on the mask's pixels; chance is the mask's share of the image.")
INTRO = ("A **fusion** model reads the caption's words and the image's patches as **one "
         "sequence** through one transformer (concatenation, as in ViLT), so a word can attend "
         "to a patch directly. Its heads answer two questions: does the caption fit the "
         "picture, and which word belongs where a caption says `[MASK]`. Trained only on "
         "mini-CLIP 2's world of shapes and emoji things.")


def _example_values(title: str) -> dict:
    ex = fusion_api.fusion_example(title)
    return {"image": figs.scene_image(ex.image), "caption": ex.caption}


def _head(head: str | None) -> int | None:
    return None if head in (None, "", MEAN) else int(str(head).split()[-1])


def _word(state, word) -> int:
    """The chosen word's token position ('3: star' -> 3), or the first named object."""
    view = state["view"]
    if word and ":" in str(word):
        return int(str(word).split(":")[0])
    named = [i for i, t in enumerate(view.tokens) if t not in ("[CLS]", ",", "a", "an")]
    return named[0] if named else 0


def _redraw(state, layer, head, word, row, col) -> dict:
    """Every figure of a kept result at the chosen layer, head, word and patch."""
    if not state:
        raise InputError("Press Run first: the views are drawn from a run.")
    view, layer, h = state["view"], int(layer), _head(head)
    if not 0 <= layer < view.n_layers:
        raise InputError(f"Layer {layer} does not exist: this model has layers 0-{view.n_layers - 1}.")
    pos = _word(state, word)
    wmap = fusion_api.word_patch_map(view, pos, layer)
    readers = fusion_api.patch_readers(view, int(row), int(col), layer)
    return {"joint": figs.joint_attention_figure(view, layer, h),
            "word_map": figs.word_map_image(wmap, view.image, h),
            "head_maps": figs.head_map_gallery(wmap, view.image),
            "patch": figs.patch_image(view.image, view.rows, view.cols, int(row), int(col)),
            "readers": figs.readers_figure(readers),
            "pointing": figs.pointing_table(state["pointing"], layer)}


def on_example(ctx: AppContext, title) -> dict:
    return _example_values(title)


def on_run(ctx: AppContext, title, caption, layer, head, word, row, col) -> dict:
    """Run the model on the example's picture with the caption; keep the result."""
    ex = fusion_api.fusion_example(title)
    model = api.load(MODEL)
    view = fusion_api.inspect_fusion(model, ex.image, caption)
    state = {"view": view, "pointing": fusion_api.fusion_pointing(view, ex.masks)}
    words = [f"{i}: {t}" for i, t in enumerate(view.tokens)]
    first = words[_word(state, None)]
    unknown = model.unknown_words(view.tokens)
    note = (f"\n\nNot in its vocabulary (read as [UNK]): {', '.join(unknown)}" if unknown else "")
    out = _redraw(state, min(int(layer), view.n_layers - 1), head, first, row, col)
    return out | {"state": state, "summary": figs.fills_markdown(view) + note,
                  "shares": figs.block_share_figure(fusion_api.block_shares(view)),
                  "word": gr.update(choices=words, value=first)}


def on_redraw(ctx: AppContext, state, layer, head, word, row, col) -> dict:
    return _redraw(state, layer, head, word, row, col)


REDRAW = ["joint", "word_map", "head_maps", "patch", "readers", "pointing", MESSAGE]
RUN = ["state", "summary", "shares", "word", *REDRAW]


def build(ctx: AppContext) -> Components:
    """Two sub-tabs: the concatenation model (below) and the cross-attention captioner
    (ui/fusion_caption.py), each with its own controls."""
    with gr.Tab("Concatenation (one stream)"):
        c = build_concatenation(ctx)
    with gr.Tab("Cross-attention captioner"):
        fusion_caption_lab.build(ctx, fusion_caption.build(ctx))
    return c


def build_concatenation(ctx: AppContext) -> Components:
    c = Components()
    titles = fusion_api.list_fusion_examples()
    layers, heads = fusion_api.model_shape()          # from the card: nothing loads at start-up
    first = _example_values(titles[0]) if titles else {"image": None, "caption": ""}
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1):
            # the scenes are mini-CLIP 2's examples; here they are simply scenes of its world
            shown = [(t.replace("mini-CLIP 2", "world scene"), t) for t in titles]
            c["example"] = gr.Dropdown(shown, value=titles[0] if titles else None, label="Scene")
            c["image"] = gr.Image(first["image"], label="Picture (64 × 64, enlarged)",
                                  interactive=False)
        with gr.Column(scale=2):
            c["caption"] = gr.Textbox(first["caption"], label="Caption ([MASK]: a word to guess)")
            c["run"] = gr.Button("Run", variant="primary")
            c[MESSAGE] = gr.Markdown(elem_classes="mm-message")
            c["summary"] = gr.Markdown()
    with gr.Row():
        c["layer"] = gr.Slider(0, layers - 1, value=layers - 1, step=1, label="Layer")
        c["head"] = gr.Dropdown([MEAN, *(f"head {h}" for h in range(heads))], value=MEAN, label="Head")
        c["word"] = gr.Dropdown([], value=None, label="Word")
        c["row"] = gr.Slider(0, 7, value=3, step=1, label="Patch row")
        c["col"] = gr.Slider(0, 7, value=3, step=1, label="Patch column")
    c["state"] = gr.State(None)
    with gr.Tab("Joint attention"):
        c["joint"] = gr.Plot(show_label=False)
        c["shares"] = gr.Plot(show_label=False)
    with gr.Tab("Word → patches"):
        with gr.Row():
            c["word_map"] = gr.Image(label="The word's map, over the image", interactive=False, height=360)
            c["head_maps"] = gr.Gallery(label="Head by head", columns=4, height=300)
        c["pointing"] = gr.Dataframe(label="Pointing game at this layer", interactive=False)
        gr.Markdown(RECIPE)
    with gr.Tab("Patch → words"):
        with gr.Row():
            c["patch"] = gr.Image(label="The chosen patch", interactive=False, height=360)
            c["readers"] = gr.Plot(show_label=False)
    with gr.Tab("Remove heads"):
        fusion_lab.build(ctx, c)
    wire(ctx, c)
    return c


def wire(ctx: AppContext, c: Components) -> None:
    comps = lambda names: [c[n] for n in names]                    # noqa: E731
    model_event = {"concurrency_id": "model", "concurrency_limit": ctx.model_concurrency}
    c["example"].change(bind(on_example, ctx, ["image", "caption", MESSAGE]), c["example"],
                        comps(["image", "caption", MESSAGE]), api_name="fusion_example")
    inputs = comps(["example", "caption", "layer", "head", "word", "row", "col"])
    run = bind(on_run, ctx, RUN, release=True)
    c["run"].click(run, inputs, comps(RUN), api_name="fusion_run", **model_event)
    c["caption"].submit(run, inputs, comps(RUN), api_name="fusion_run_submit", **model_event)
    redraw = comps(["state", "layer", "head", "word", "row", "col"])
    on_any([c[n].change for n in ("layer", "head", "word", "row", "col")],
           bind(on_redraw, ctx, REDRAW),
           redraw, comps(REDRAW), api_name="fusion_redraw", show_progress="minimal")
