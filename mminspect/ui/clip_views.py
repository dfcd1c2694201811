"""The Image–text tab's views that redraw from the kept result, never touching the model:
"A rather than B", attention over patches (and picking a patch by clicking it), and the
prompts' own attention."""
from __future__ import annotations

import html

import gradio as gr
import numpy as np

from .. import figures
from ..figures import clip as cfig
from ..types import AttentionMaps, InputError
from .context import AppContext


def contrast_view(state, a: str, b: str) -> dict:
    expl = state["expl"]
    if a not in expl.prompts or b not in expl.prompts:
        raise InputError("Pick two of the prompts for the contrast.")
    if a == b:
        raise InputError("A and B are the same prompt, so A − B is zero everywhere: pick two "
                         "different prompts.")
    ma, mb = expl.maps[expl.prompts.index(a)], expl.maps[expl.prompts.index(b)]
    diff = ma.patch_scores - mb.patch_scores                                 # [rows, cols]
    return {"contrast": cfig.overlay(ma.image, diff, signed=True),
            "contrast_md": f"logit({html.escape(a)}) − logit({html.escape(b)}) = "
                           f"**{ma.target_value - mb.target_value:+.3f}**"}


def chain_summary(view) -> str:
    """The logit step of the summary line: CLIP's scale, or SigLIP's scale, bias and sigmoid
    with what that means for the probabilities (independent; their sum is shown)."""
    if view.link != "sigmoid":
        return f"logit scale {view.logit_scale:.1f}"
    return (f"scale {view.logit_scale:.1f} + bias {view.logit_bias:+.1f} → **a sigmoid per "
            f"prompt** (independent yes/no probabilities: they sum to "
            f"{float(view.probs[0].sum()):.2f} here, not to 1)")


def _query_index(state, query: str) -> int:
    tokens = state["view"].image_tokens
    return tokens.index(query) if query in tokens else 0


def text_attention_figure(state, prompt: str):
    view = state["view"]
    text = view.texts[view.prompts.index(prompt)] if prompt in view.prompts else view.texts[0]
    w = text.attention
    causal = bool(np.allclose(np.triu(w, k=1), 0))
    maps = AttentionMaps(weights=w, tokens=text.tokens, special=text.special, causal=causal)
    return figures.model_view(maps)



def redraw_contrast(ctx: AppContext, state, a, b) -> dict:
    if state is None:
        raise InputError("Press Inspect first.")
    return contrast_view(state, a, b)


def redraw_attention(ctx: AppContext, state, layer, head, query) -> dict:
    if state is None:
        return {}
    return {"patches": cfig.attention_over_patches(state["view"], 0, int(layer), int(head),
                                                   _query_index(state, query))}


def on_patch_select(ctx: AppContext, state, evt: gr.SelectData) -> dict:
    """Clicking the attention image picks the patch under the pointer as the query."""
    if state is None or evt.index is None:
        return {}
    view = state["view"]
    x, y = evt.index
    size = cfig.upscale(view.images[0]).shape[0]
    if int(y) >= size:                                    # the colour bar under the image
        return {}
    r, c = int(y) * view.grid_rows // size, int(x) * view.grid_cols // size
    offset = len(view.image_tokens) - view.grid_rows * view.grid_cols
    return {"query": gr.update(value=view.image_tokens[offset + r * view.grid_cols + c])}


def redraw_text_attention(ctx: AppContext, state, prompt) -> dict:
    return {} if state is None else {"text_att": text_attention_figure(state, prompt)}


# "Why this label": how the relevance maps are coloured. Relevance sizes follow the gradients
# of each prompt's logit, not the logit itself, so on one shared scale a losing prompt can
# glow while the winner's map looks blank (mini-CLIP 2's light bulb and snail: the snail wins
# at p = 1.00 with a peak of 0.51, the bulb at p = 0.00 peaks at 2.19). Each map on its own
# scale shows *where* each prompt's evidence lies, which is what a map can honestly say; the
# probabilities say *which* prompt wins. The shared scale stays one click away, with a line
# that says why the winner may be dimmer there.
SCALES = [("each map on its own scale", "own"), ("one shared scale", "shared")]


def by_probability(state) -> list[int]:
    """Prompt indices, most probable first: the winning prompt's map comes first."""
    return [int(i) for i in np.argsort(-state["view"].probs[0], kind="stable")]


def relevance_gallery(state, scale: str) -> list:
    """(overlay, caption) per prompt, most probable first, the best match starred."""
    view, expl = state["view"], state["expl"]
    order = by_probability(state)
    shared = expl.vmax if scale == "shared" else None
    return [(cfig.caption_room(cfig.overlay(expl.maps[i].image, expl.maps[i].patch_scores,
                                            shared)),
             f"{'★ ' if k == 0 else ''}{view.prompts[i]} · p = {view.probs[0, i]:.2f}")
            for k, i in enumerate(order)]


def similarity_gallery(state) -> list:
    """Patch–text similarity per prompt, in the relevance gallery's order."""
    sims = state["expl"].similarity
    return [(cfig.caption_room(cfig.overlay(sims[i].image, sims[i].patch_scores
                                            - sims[i].patch_scores.mean(), signed=True)),
             sims[i].prompt) for i in by_probability(state) if i < len(sims)]


def scale_note(state, scale: str) -> str:
    """One line over the maps: what their brightness means on this scale, and, on the shared
    scale, why the best match may not be the brightest."""
    view, expl = state["view"], state["expl"]
    order = by_probability(state)
    best = order[0]
    peaks = [float(np.abs(m.patch_scores).max()) for m in expl.maps]
    if scale != "shared":
        return ("Each map on its own scale (its peak is written on its colour bar), so every "
                "map is equally bright: a map shows *where* that prompt's evidence lies; the "
                "probabilities say *which* prompt wins (★, first).")
    top = int(np.argmax(peaks))
    if top == best or len(order) < 2:
        return (f"One shared scale (0 to {expl.vmax:.3g}): the best match, "
                f"**{html.escape(view.prompts[best])}**, has the strongest map.")
    return (f"One shared scale (0 to {expl.vmax:.3g}). **{html.escape(view.prompts[top])}** "
            f"(p = {view.probs[0, top]:.2f}) has the largest relevance (peak {peaks[top]:.2f}; "
            f"the best match **{html.escape(view.prompts[best])}** peaks at {peaks[best]:.2f}). "
            "Relevance sizes follow the gradients of each prompt's logit, not the logit: a "
            "losing prompt can have larger ones. Read *which* prompt wins from the "
            "probabilities and *where* from each map.")


def redraw_relevance(ctx: AppContext, state, scale) -> dict:
    """Another colour scale for the relevance maps: a redraw, no model work."""
    if state is None:
        return {}
    return {"rel": relevance_gallery(state, scale), "rel_note": scale_note(state, scale)}
