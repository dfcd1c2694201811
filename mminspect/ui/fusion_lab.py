"""The Fusion tab's "Remove heads" view: the causal lab on the concatenation model's heads.

Reads the scene and caption of the Fusion tab. "Pick the heads that read the image most"
fills the heads box from the run's own attention (each head's text->image share for the
[MASK], else for the caption's words); "Remove" measures the answer with and without them on
this scene, the held-out masked-colour accuracy with and without them (does it fall to
chance?), and every head removed alone (the importance table)."""
from __future__ import annotations

import html
import re

import gradio as gr

from .. import api
from ..api import fusion as fusion_api
from ..figures import causal as causal_figs
from ..types import InputError
from .context import AppContext
from .events import MESSAGE, Components, bind

HEADS = "Heads to remove (layer.head, comma-separated)"
HELD_OUT = 100           # held-out scenes for the accuracy with the heads removed (~2 s)
HINT = "Press Remove: each head removed alone, the change of the answer."


def parse_heads(text: str) -> list[tuple[int, int]]:
    """'3.3, 2.1' (or 'L3H3 L2H1') -> [(3, 3), (2, 1)]."""
    pairs = re.findall(r"L?\s*(\d+)\s*[.,:hH]\s*(\d+)", str(text or "").replace(", ", "; "))
    if not pairs:
        raise InputError("Name the heads to remove as layer.head, e.g. 3.3, 2.1 — or press "
                         "“Pick the heads that read the image most”.")
    return [(int(a), int(b)) for a, b in pairs]


def on_pick(ctx: AppContext, title, caption, k) -> dict:
    """The k heads whose text->image share is largest, into the heads box."""
    ex = fusion_api.fusion_example(title)
    heads = api.image_reading_heads("fusion", ex.image, caption, k=int(k))
    return {"heads": ", ".join(f"{a}.{b}" for a, b in heads)}


def on_remove(ctx: AppContext, title, caption, heads_text) -> dict:
    heads = parse_heads(heads_text)
    ex = fusion_api.fusion_example(title)
    model = api.load("fusion")
    abl = api.ablate_fusion_heads(model, ex.image, caption, heads)
    imp = api.fusion_head_importance(model, ex.image, caption)
    acc = api.fusion_ablation_accuracy(model, heads, "colour", n=HELD_OUT)
    names = ", ".join(f"L{a}H{b}" for a, b in abl.heads)
    e = html.escape
    text = (f"**Removed {names}** (zero ablation: each head's context vector set to 0 before "
            f"the output projection).\n\n"
            f"| measured | intact | heads removed |\n|---|---|---|\n"
            f"| this scene: {e(abl.target)} | {abl.before:.3f} | {abl.after:.3f} "
            f"({abl.delta:+.3f}) |\n"
            f"| held-out masked colour, {acc.n} scenes (chance {acc.chance:.0%}) | "
            f"{acc.intact:.1%} | {acc.ablated:.1%} |")
    return {"result": text, "importance": causal_figs.importance_table(imp.delta)}


OUT = ["result", "importance", MESSAGE]


def build(ctx: AppContext, c: Components) -> None:
    """Lay out the view inside the Fusion tab (its scene and caption are `c`'s)."""
    gr.Markdown("Remove heads and measure the answer. Put `[MASK]` on a colour word in the "
                "caption: does the colour still come out without the heads that read the "
                "image? The importance table removes each head alone (negative: the head "
                "supports the answer).")
    with gr.Row():
        c["heads"] = gr.Textbox(label=HEADS, value="", scale=3)
        c["k"] = gr.Slider(1, 16, value=4, step=1, label="How many heads to pick", scale=2)
    with gr.Row():
        c["pick"] = gr.Button("Pick the heads that read the image most", size="sm")
        c["remove"] = gr.Button("Remove", variant="primary", size="sm")
    c["result"] = gr.Markdown()
    c["importance"] = gr.Dataframe(causal_figs.empty_importance_table(HINT),
                                   label="Each head removed alone: change of the answer",
                                   interactive=False)
    comps = lambda names: [c[n] for n in names]                    # noqa: E731
    model_event = {"concurrency_id": "model", "concurrency_limit": ctx.model_concurrency}
    c["pick"].click(bind(on_pick, ctx, ["heads", MESSAGE]), comps(["example", "caption", "k"]),
                    comps(["heads", MESSAGE]), api_name="fusion_pick_heads", **model_event)
    c["remove"].click(bind(on_remove, ctx, OUT, release=True),
                      comps(["example", "caption", "heads"]), comps(OUT),
                      api_name="fusion_remove_heads", **model_event)
