"""The Fusion tab's captioner view: our bundled cross-attention model (an image encoder and a
text decoder that reads it) writes a caption of a world scene step by step. One run writes
the caption and keeps every step's cross-attention (per layer and head) and logit lens; the
word, layer and head controls only redraw from the kept result (no model run).

Views: the caption as a table of steps, the chosen word's cross-attention map over the image
(heads averaged and head by head), the pointing game of every object word against its exact
mask next to the map, and the chosen step's logit-lens row over the decoder layers."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd

from .. import api
from ..api import fusion as fusion_api
from ..api import fusion_caption as cap
from ..api import fusion_caption_trace as glass
from ..figures import fusion as figs
from ..types import InputError
from .context import AppContext
from .events import MESSAGE, Components, bind, on_any

MODEL = "fusion-caption"
MEAN = "heads averaged"
HELD_OUT = "held-out scene (number below)"
WRITE_FIRST = "Press “Write caption”"
INTRO = ("A **cross-attention** model keeps image and text apart: an image encoder (mini-CLIP "
         "2's frozen image tower) turns the picture into 8 × 8 patch vectors once, and a small "
         "text **decoder writes a caption word by word**. In every decoder layer each word "
         "reads the patches through cross-attention: queries from the words, keys and values "
         "from the patches (as T5's decoder reads its encoder). Here you see, for each written "
         "word, which patches it read. Trained only on mini-CLIP 2's world.")
RECIPE = ("**Pointing game**: the map of a written object word is the cross-attention of the "
          "step that wrote it, heads averaged, at the chosen decoder layer; it *hits* when its "
          "largest patch touches the object's exact mask. *Energy in mask*: the map's share on "
          "the mask's pixels; chance is the mask's share of the image. The model's card measures "
          "it over 200 held-out two-object scenes: held-out scene numbers 0-199 are those scenes.")


def scene_of(choice, number):
    """(image uint8 [H, W, 3], {phrase: exact mask}) of the chosen scene."""
    if choice == HELD_OUT:
        if number is None or float(number) != int(float(number)):
            raise InputError(f"Give a held-out scene number: a whole number from 0 to {cap.HELD_OUT_SCENES - 1}.")
        s = cap.held_out_scene(int(float(number)))
        return s.image, s.masks
    if not choice:
        raise InputError("Choose a scene first.")
    ex = fusion_api.fusion_example(choice)
    return ex.image, ex.masks


def on_scene(ctx: AppContext, choice, number) -> dict:
    return {"image": figs.scene_image(scene_of(choice, number)[0])}


def _head(head) -> int | None:
    """'head 2' -> 2; anything else (the heads averaged) -> None."""
    return int(str(head)[5:]) if str(head).startswith("head ") else None


def _step(view, word) -> int:
    """'3: star' -> 3; by default the first object word (else the first step)."""
    if word and ":" in str(word):
        return int(str(word).split(":")[0])
    named = cap.object_steps(view)
    return named[0] if named else 0


def _empty(key: str, hint_column: str) -> pd.DataFrame:
    """A table's look before the first caption: its own headers and what to press (gradio
    would show the headers "1 2 3")."""
    return pd.DataFrame({key: ["—"], hint_column: [WRITE_FIRST]})


def steps_table(view, pointing, layer: int) -> pd.DataFrame:
    hit = {(w, lay): h for w, lay, h in zip(pointing.words, pointing.layers, pointing.hit)}
    rows = []
    for t, (read, wrote) in enumerate(zip(view.read, view.steps)):
        m = view.cross[layer, :, t].mean(0)
        r, c = divmod(int(np.argmax(m)), view.cols)
        rows.append({"step": t, "read": read, "wrote": wrote, "P(wrote)": f"{view.probs[t]:.0%}",
                     "chosen by": "you" if t < view.given else "the model",
                     f"peak patch (layer {layer})": f"r{r}c{c}",
                     "peak on its object": {True: "yes", False: "no"}.get(bool(hit[(wrote, layer)])
                                                                         if (wrote, layer) in hit else None, "")})
    return pd.DataFrame(rows)


def lens_table(view, step: int) -> pd.DataFrame:
    """One row per decoder layer: its top words for this step and P(the written word)."""
    lens, rows = view.lens, []
    for layer in range(lens.top_ids.shape[0]):
        row = {"after layer": layer}
        for k in range(lens.top_ids.shape[2]):
            row[f"#{k + 1}"] = f"{lens.top_tokens[layer][step][k]} ({lens.top_probs[layer, step, k]:.0%})"
        row[f"P({view.steps[step]})"] = f"{lens.target_probs[layer, step]:.0%}"
        rows.append(row)
    return pd.DataFrame(rows)


def head_steps(trace, step: int) -> str:
    """The glass box of one cross-attention head at one step, in words and real numbers."""
    q = ", ".join(f"{x:+.2f}" for x in trace.q[step, :4])
    d, D = trace.q.shape[1], trace.x.shape[1]
    return (f"**How head {trace.head} of layer {trace.layer} computed this map** (numbers recomputed "
            f"from the weights; largest difference from the model's own: {trace.max_error:.1e})\n\n"
            f"1. **Query from the word**: this step read “{trace.read[step]}”; its state after the "
            f"LayerNorm (x, {D} numbers) times W_q gives q ({d} numbers: {q}, …).\n"
            f"2. **Keys and values from the patches**: each of the {len(trace.patches)} patch vectors "
            f"of the image encoder times W_k gives its key k, times W_v its value v.\n"
            f"3. **Scores**: q · k for every patch, × 1/√{d} = {trace.scale:.3f}, then a softmax over "
            f"the patches alone: the weights sum to 1 (the table: the 5 largest).\n"
            f"4. **Context**: the weighted sum of the values (length "
            f"{np.linalg.norm(trace.context[step]):.2f}); times this head's part of W_o it is the "
            f"head's output (length {np.linalg.norm(trace.output[step]):.2f}), added to the word's "
            f"residual stream, which then writes “{trace.steps[step]}”.")


def _glass(state, step: int, layer: int, h) -> dict:
    if h is None:
        return {"glass": "Choose a cross-attention head above to see how it computed its map.",
                "glass_table": pd.DataFrame({"patch": ["—"], "weight": ["choose a head"]})}
    trace = state["traces"][layer][h]
    table = pd.DataFrame(glass.top_patches(trace, step)).round(4)
    return {"glass": head_steps(trace, step), "glass_table": table}


def _redraw(state, word, layer, head) -> dict:
    if not state:
        raise InputError("Press Write caption first: the views are drawn from a caption.")
    view, layer, h = state["view"], int(layer), _head(head)
    if not 0 <= layer < view.n_layers:
        raise InputError(f"Layer {layer} does not exist: the decoder has layers 0-{view.n_layers - 1}.")
    step = _step(view, word)
    wmap = cap.caption_word_map(view, step, layer)
    heads = [(figs.word_map_image(wmap, view.image, k),
              f"head {k}: peak r{divmod(int(np.argmax(wmap.per_head[k])), view.cols)[0]}"
              f"c{divmod(int(np.argmax(wmap.per_head[k])), view.cols)[1]}")
             for k in range(view.n_heads)]
    return {"word_map": figs.word_map_image(wmap, view.image, h), "head_maps": heads,
            "pointing": figs.pointing_table(state["pointing"], layer),
            "lens": lens_table(view, step), "steps": steps_table(view, state["pointing"], layer),
            **_glass(state, step, layer, h)}


def on_write(ctx: AppContext, choice, number, prefix, word, layer, head) -> dict:
    """Write a caption of the chosen scene (starting with `prefix` if given); keep the result."""
    image, masks = scene_of(choice, number)
    view = cap.caption_scene(api.load(MODEL), image, prefix or "")
    state = {"view": view, "pointing": cap.caption_pointing(view, masks),
             "traces": glass.trace_cross_heads(api.load(MODEL), image, prefix or "")}
    words = [f"{t}: {w}" for t, w in enumerate(view.steps)]
    first = words[_step(view, None)]
    ending = "" if view.ended else " (stopped at the length cap, no [END])"
    summary = (f"**Caption:** {view.text or '(nothing)'}{ending}  \n"
               f"{view.given} word(s) given by you, {len(view.steps) - view.given} step(s) chosen by the model.")
    out = _redraw(state, first, min(int(layer), view.n_layers - 1), head)
    return out | {"state": state, "summary": summary, "word": gr.update(choices=words, value=first),
                  "image": figs.scene_image(image)}


def on_redraw(ctx: AppContext, state, word, layer, head) -> dict:
    return _redraw(state, word, layer, head)


REDRAW = ["word_map", "head_maps", "glass", "glass_table", "pointing", "lens", "steps", MESSAGE]
WRITE = ["state", "summary", "word", "image", *REDRAW]


def build(ctx: AppContext) -> Components:
    c = Components()
    titles = fusion_api.list_fusion_examples()
    layers, heads = cap.model_shape()        # from the card: nothing loads at start-up
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1):
            shown = [(t.replace("mini-CLIP 2", "world scene"), t) for t in titles] + [(HELD_OUT, HELD_OUT)]
            c["example"] = gr.Dropdown(shown, value=titles[0] if titles else HELD_OUT, label="Captioner scene")
            c["number"] = gr.Number(0, precision=0, label="Held-out scene number (0-199)")
            first = scene_of(titles[0], 0)[0] if titles else None
            c["image"] = gr.Image(None if first is None else figs.scene_image(first),
                                  label="Picture the captioner reads (64 × 64, enlarged)", interactive=False)
        with gr.Column(scale=2):
            c["prefix"] = gr.Textbox("", label="Start the caption with (optional)",
                                     placeholder="e.g. 'a red' — the model writes the rest")
            c["run"] = gr.Button("Write caption", variant="primary")
            c[MESSAGE] = gr.Markdown(elem_classes="mm-caption-message")
            c["summary"] = gr.Markdown()
    with gr.Row():
        c["word"] = gr.Dropdown([], value=None, label="Written word")
        c["layer"] = gr.Slider(0, layers - 1, value=layers - 1, step=1, label="Decoder layer")
        c["head"] = gr.Dropdown([MEAN, *(f"head {h}" for h in range(heads))], value=MEAN,
                                label="Cross-attention head")
    c["state"] = gr.State(None)
    with gr.Row():
        c["word_map"] = gr.Image(label="Where this word read the image", interactive=False, height=360)
        with gr.Column():
            c["pointing"] = gr.Dataframe(_empty("word", "peak on object"),
                                         label="Pointing game of the object words (this layer)", interactive=False)
            gr.Markdown(RECIPE)
    c["head_maps"] = gr.Gallery(label="Map of each head", columns=4, height=300)
    with gr.Row():
        c["glass"] = gr.Markdown("Write a caption and choose a cross-attention head to see how it "
                                 "computed its map, step by step.")
        c["glass_table"] = gr.Dataframe(pd.DataFrame({"patch": ["—"], "weight": ["choose a head"]}),
                                        label="The chosen head at this step: the 5 patches it weighs most",
                                        interactive=False)
    c["lens"] = gr.Dataframe(_empty("after layer", "#1"),
                             label="Logit lens of this step (the likeliest words after each layer)",
                             interactive=False)
    c["steps"] = gr.Dataframe(_empty("step", "wrote"), label="The caption step by step",
                              interactive=False)
    wire(ctx, c)
    return c


def wire(ctx: AppContext, c: Components) -> None:
    comps = lambda names: [c[n] for n in names]                    # noqa: E731
    model_event = {"concurrency_id": "model", "concurrency_limit": ctx.model_concurrency}
    on_any([c["example"].change, c["number"].change], bind(on_scene, ctx, ["image", MESSAGE]),
           comps(["example", "number"]), comps(["image", MESSAGE]), api_name="caption_scene")
    inputs = comps(["example", "number", "prefix", "word", "layer", "head"])
    write = bind(on_write, ctx, WRITE, release=True)
    c["run"].click(write, inputs, comps(WRITE), api_name="caption_write", **model_event)
    c["prefix"].submit(write, inputs, comps(WRITE), api_name="caption_write_submit", **model_event)
    redraw = comps(["state", "word", "layer", "head"])
    on_any([c[n].change for n in ("word", "layer", "head")], bind(on_redraw, ctx, REDRAW), redraw,
           comps(REDRAW), api_name="caption_redraw", show_progress="minimal")
