"""Figures of a fusion model (image and text in one transformer): the joint attention with its
four blocks marked, each block's share by layer, a word's map over the image (heads averaged
and head by head), the words that read a patch, and the pointing table. numpy in, figures /
uint8 images / tables out (no torch)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..types.fusion import BLOCK_NAMES, FusionView, PatchReaders, WordPatchMap, WordPointing
from .clip import overlay, upscale
from .layout import plotly_text

OUTLINE = (0, 255, 120)      # the chosen patch's frame


def scene_image(image: np.ndarray) -> np.ndarray:
    """A 64 px scene enlarged (nearest neighbour, whole factor) so a person can see it."""
    return upscale(np.asarray(image, np.uint8), 256)


def sequence_labels(view: FusionView) -> list[str]:
    """Text tokens as written, patches as 'r2c5' (row, column)."""
    patches = [f"r{r}c{c}" for r in range(view.rows) for c in range(view.cols)]
    return [f"{i}:{t}" for i, t in enumerate(view.tokens)] + patches


def joint_attention_figure(view: FusionView, layer: int, head: int | None) -> go.Figure:
    """One layer's joint attention [query, key] (one head, or heads averaged when head is
    None), with lines between text and image so its four blocks show."""
    a = view.attention[layer]                                             # [head, query, key]
    m = a.mean(0) if head is None else a[head]                            # [query, key]
    labels = sequence_labels(view)
    t, n = view.n_text, len(labels)
    fig = go.Figure(go.Heatmap(z=m, x=labels, y=labels, colorscale="Inferno", zmin=0,
                               hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.3f}<extra></extra>",
                               colorbar={"title": "weight", "thickness": 12}))
    edge = t - 0.5
    for line in ({"x0": edge, "x1": edge, "y0": -0.5, "y1": n - 0.5},
                 {"x0": -0.5, "x1": n - 0.5, "y0": edge, "y1": edge}):
        fig.add_shape(type="line", line={"color": "#00e676", "width": 2}, **line)
    corners = ((t / 2, t / 2), (t + (n - t) / 2, t / 2), (t / 2, t + (n - t) / 2),
               (t + (n - t) / 2, t + (n - t) / 2))
    for name, (x, y) in zip(BLOCK_NAMES, corners):
        fig.add_annotation(x=x, y=y, text=name, showarrow=False,
                           font={"color": "#00e676", "size": 13}, bgcolor="rgba(0,0,0,0.55)")
    who = "heads averaged" if head is None else f"head {head}"
    fig.update_layout(title=f"Layer {layer}, {who}: rows read (query), columns are read (key)",
                      height=620, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      yaxis={"autorange": "reversed", "showticklabels": True, "tickfont": {"size": 8}},
                      xaxis={"tickfont": {"size": 8}})
    return fig


def block_share_figure(shares: np.ndarray) -> go.Figure:
    """shares: [layer, 4] -> one stacked bar per layer: each block's share of all attention."""
    fig = go.Figure()
    layers = [f"layer {i}" for i in range(shares.shape[0])]
    for k, name in enumerate(BLOCK_NAMES):
        fig.add_trace(go.Bar(x=layers, y=shares[:, k], name=name,
                             hovertemplate=f"{name}: %{{y:.1%}}<extra></extra>"))
    fig.update_layout(barmode="stack", height=300, yaxis={"tickformat": ".0%", "title": "share"},
                      title="Where the attention mass goes, layer by layer (heads and queries summed)",
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def word_map_image(wmap: WordPatchMap, image: np.ndarray, head: int | None = None) -> np.ndarray:
    """The word's patch map (heads averaged, or one head) over the image, with a colour bar.
    -> uint8 [H', W', 3]"""
    scores = wmap.mean if head is None else wmap.per_head[head]           # [rows, cols]
    return overlay(image, scores)


def head_map_gallery(wmap: WordPatchMap, image: np.ndarray) -> list[tuple[np.ndarray, str]]:
    """One (image, caption) per head: the word's map of that head, and how much of the word's
    attention that head left on the text."""
    return [(word_map_image(wmap, image, h),
             f"head {h}: {wmap.per_head[h].sum():.0%} on the image, {wmap.text_share[h]:.0%} on words")
            for h in range(wmap.per_head.shape[0])]


def patch_image(image: np.ndarray, rows: int, cols: int, row: int, col: int) -> np.ndarray:
    """The image (upscaled, dimmed a little) with one patch framed. -> uint8 [H', W', 3]"""
    out = overlay(image, np.zeros((rows, cols)), legend=False)
    k = out.shape[0] // rows
    out[row * k:(row + 1) * k, [col * k, col * k + 1, (col + 1) * k - 2, (col + 1) * k - 1]] = OUTLINE
    out[[row * k, row * k + 1, (row + 1) * k - 2, (row + 1) * k - 1], col * k:(col + 1) * k] = OUTLINE
    return out


def readers_figure(readers: PatchReaders) -> go.Figure:
    """Which words read the patch: each text token's attention to it, heads averaged (bars)
    and per head (dots)."""
    labels = [f"{i}:{t}" for i, t in enumerate(readers.tokens)]
    fig = go.Figure(go.Bar(x=labels, y=readers.mean, name="heads averaged", marker_color="#636efa",
                           hovertemplate="%{x}: %{y:.3f}<extra>heads averaged</extra>"))
    for h, row in enumerate(readers.per_head):
        fig.add_trace(go.Scatter(x=labels, y=row, mode="markers", name=f"head {h}",
                                 hovertemplate=f"%{{x}}: %{{y:.3f}}<extra>head {h}</extra>"))
    fig.update_layout(title=f"Words that read patch r{readers.row}c{readers.col} (layer {readers.layer})",
                      height=320, yaxis={"title": "attention to the patch"},
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def pointing_table(p: WordPointing, layer: int | None = None) -> pd.DataFrame:
    """One row per object word (at `layer`, or every layer): hit, energy-in-mask and its
    chance level (the mask's share of the image)."""
    keep = np.ones(len(p.words), bool) if layer is None else p.layers == layer
    return pd.DataFrame({
        "word": [w for w, k in zip(p.words, keep) if k],
        "object": [o for o, k in zip(p.objects, keep) if k],
        "layer": p.layers[keep],
        "peak on object": ["yes" if h else "no" for h in p.hit[keep]],
        "energy in mask": [f"{e:.0%}" for e in p.energy[keep]],
        "chance (mask share)": [f"{c:.0%}" for c in p.chance[keep]],
    })


def fills_markdown(view: FusionView) -> str:
    """The matching probability and, per [MASK], the best words with their probabilities."""
    lines = [f"**Does the caption fit the picture?** P(match) = **{view.match:.1%}**"
             + (" (the matching head learnt on captions without a blank: read it on the caption "
                "with the word filled in)" if view.fills else "")]
    for f in view.fills:
        guesses = ", ".join(f"{plotly_text(w)} {p:.0%}" for w, p in zip(f.words, f.probs))
        lines.append(f"**[MASK] at token {f.position}**: {guesses}")
    if not view.fills:
        lines.append("Put `[MASK]` in place of a word (e.g. 'a [MASK] star') to see what the model fills in.")
    return "\n\n".join(lines)
