"""The captioner view's "Remove heads" section: the causal lab on its cross-attention heads.

Reads the captioner view's scene. "Pick" fills the heads box with the heads whose weight lands
most (or least: the control) on the objects, over held-out scenes; "Remove" lets the model
write the caption of this scene again without those heads, and measures on held-out scenes
whether it still names the objects, gets the colours right and writes a well-formed sentence,
next to chance; the importance table removes each head alone on this scene."""
from __future__ import annotations

import html

import gradio as gr
import pandas as pd

from .. import api
from ..api import fusion_caption_causal as cc
from ..figures import causal as causal_figs
from ..types import InputError
from .context import AppContext
from .events import Components, bind
from .fusion_caption import scene_of
from .fusion_lab import parse_heads

MODEL = "fusion-caption"
MESSAGE = "lab_message"
HELD_OUT = 100           # held-out scenes written twice on Remove (about 2 s on one core)
PICK_FROM = 40           # held-out scenes the heads are ranked on
MOST, LEAST = "most on the objects", "least on the objects (a control)"
HINT = "Press Remove: each head removed alone, the change of P(the caption's naming words)."
ABOUT = ("### Remove cross-attention heads\n"
         "Every cross-attention head puts all of its weight on the patches, so each one reads the "
         "image; they differ in *where*. **Pick** ranks the heads by the share of their weight on "
         "the scene's objects (exact masks) when a naming word is written, over "
         f"{PICK_FROM} held-out scenes. **Remove** sets the heads' context vectors to 0 at every "
         "step and lets the model write again. *Well formed* means the caption still has the form "
         "of a training caption (“a *colour* *shape* and a *thing*”, relations and positions "
         "allowed), whatever its words.")


def on_pick(ctx: AppContext, k, which) -> dict:
    reading = cc.caption_reading_heads(api.load(MODEL), k=int(k), n=PICK_FROM, least=which == LEAST)
    return {"cap_heads": ", ".join(f"{a}.{b}" for a, b in reading.ranking)}


def _pct(x: float) -> str:
    return f"{x:.1%}"


def accuracy_table(acc) -> pd.DataFrame:
    rows = [("names every object", "names_every_object", "—"),
            ("every shape's colour right", "colours_right", _pct(acc.colour_chance)),
            ("well formed (training-caption grammar)", "grammatical", "—")]
    return pd.DataFrame([{"held-out figure": name, "intact": _pct(acc.intact[key]),
                          "heads removed": _pct(acc.ablated[key]), "colour guessed at random": chance}
                         for name, key, chance in rows])


def on_remove(ctx: AppContext, choice, number, heads_text) -> dict:
    if not str(heads_text or "").strip():          # the shared parser names the other view's button
        raise InputError("Name the cross-attention heads to remove as layer.head, e.g. 1.0, 1.2 "
                         "— or press “Pick heads”.")
    heads = parse_heads(heads_text)
    image = scene_of(choice, number)[0]
    model = api.load(MODEL)
    abl = cc.ablate_caption_heads(model, image, heads)
    acc = cc.caption_ablation_accuracy(model, heads, n=HELD_OUT)
    imp = cc.caption_head_importance(model, image)
    said = lambda words: html.escape(" ".join(words)) or "(nothing)"     # noqa: E731
    lines = [f"**Removed {', '.join(f'L{a}H{b}' for a, b in abl.heads)}** (zero ablation at every step).",
             f"This scene, intact: *{said(abl.intact)}*",
             f"Without them: *{said(abl.ablated)}* — {'well formed' if abl.grammatical else 'not well formed'}.",
             f"Held-out figures below: {acc.n} two-object scenes the model never trained on."]
    return {"cap_result": "  \n".join(lines), "cap_accuracy": accuracy_table(acc),
            "cap_importance": causal_figs.importance_table(imp.delta)}


OUT = ["cap_result", "cap_accuracy", "cap_importance", MESSAGE]


def build(ctx: AppContext, c: Components) -> None:
    """Lay out the section below the captioner's views (`c`: that view's components)."""
    gr.Markdown(ABOUT)
    with gr.Row():
        c["cap_heads"] = gr.Textbox(label="Cross-attention heads to remove (layer.head, comma-separated)",
                                    value="", scale=3)
        c["cap_k"] = gr.Slider(1, 12, value=4, step=1, label="How many heads to pick", scale=1)
        c["cap_which"] = gr.Radio([MOST, LEAST], value=MOST, label="Pick the heads whose weight is", scale=2)
    with gr.Row():
        c["cap_pick"] = gr.Button("Pick heads", size="sm")
        c["cap_remove"] = gr.Button("Remove and write again", variant="primary", size="sm")
    c[MESSAGE] = gr.Markdown(elem_classes="mm-caption-lab-message")
    c["cap_result"] = gr.Markdown()
    c["cap_accuracy"] = gr.Dataframe(pd.DataFrame({"held-out figure": ["—"], "intact": ["Press Remove"]}),
                                     label="Held-out scenes: intact and with the heads removed",
                                     interactive=False)
    c["cap_importance"] = gr.Dataframe(causal_figs.empty_importance_table(HINT),
                                       label="Each head removed alone on this scene: change of "
                                             "P(the caption's naming words)", interactive=False)
    comps = lambda names: [c[n] for n in names]                    # noqa: E731
    model_event = {"concurrency_id": "model", "concurrency_limit": ctx.model_concurrency}
    c["cap_pick"].click(bind(on_pick, ctx, ["cap_heads", MESSAGE], message=MESSAGE),
                        comps(["cap_k", "cap_which"]), comps(["cap_heads", MESSAGE]),
                        api_name="caption_pick_heads", **model_event)
    c["cap_remove"].click(bind(on_remove, ctx, OUT, message=MESSAGE, release=True), comps(["example", "number", "cap_heads"]), comps(OUT),
                          api_name="caption_remove_heads", **model_event)
