"""The glass-box figures around the head: what enters layer 0 (the embedding sum), a head run
with a classic mistake next to the real one, and the lessons' comparison bars.
numpy in, plotly out; no model."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..types import EmbeddingTrace
from .glassbox import ACCENT, MUTED, PLAIN, SMALL, _layout, token_labels
from .layout import fast_figure, plotly_text

PART_COLOURS = ["#93c5fd", "#fdba74", "#86efac", "#d8b4fe"]


def embeddings_figure(emb: EmbeddingTrace, q: int = 0) -> go.Figure:
    """Per token: the length of each part, of their sum, and of what layer 0 receives.
    The parts are vectors of the same size, ADDED (not concatenated), so the sum has as many
    numbers as each part."""
    labels = token_labels(emb.tokens)
    norms = emb.norms()                                                 # {part: [token]}
    data = [{"type": "bar", "x": labels, "y": norms[name].astype(np.float64), "name": name,
             "marker": {"color": PART_COLOURS[i % len(PART_COLOURS)]},
             "hovertemplate": "%{x}<br>‖" + plotly_text(name) + "‖ = %{y:.3f}<extra></extra>"}
            for i, name in enumerate(emb.parts)]
    data.append({"type": "bar", "x": labels, "y": norms["total"].astype(np.float64),
                 "name": "sum", "marker": {"color": "#1e3a8a"},
                 "hovertemplate": "%{x}<br>‖sum‖ = %{y:.3f}<extra></extra>"})
    after = np.linalg.norm(emb.after_norm, axis=-1).astype(np.float64)   # [token]
    if not np.allclose(emb.after_norm, emb.total):
        data.append({"type": "bar", "x": labels, "y": after, "name": "after LayerNorm",
                     "marker": {"color": ACCENT},
                     "hovertemplate": "%{x}<br>‖after LayerNorm‖ = %{y:.3f}<extra></extra>"})
    d = emb.total.shape[1]
    parts = " + ".join(plotly_text(p) for p in emb.parts)
    return fast_figure(data, _layout(
        f"Embeddings: {parts}, each {d} numbers, added into one vector of {d} (not {len(emb.parts)} × {d})",
        barmode="group", xaxis={"type": "category", "tickangle": -50, "title": {"text": "token"}},
        yaxis={"title": {"text": "length ‖·‖"}},
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"}))


def broken_figure(tokens, real: np.ndarray, broken: np.ndarray | None, variant: str) -> go.Figure:
    """Real and broken weights [query, key] side by side on one colour scale."""
    labels = token_labels(tokens)
    data = [{"type": "heatmap", "z": real, "x": labels, "y": labels, "xaxis": "x", "yaxis": "y",
             "colorscale": "Blues", "zmin": 0, "zmax": 1, "showscale": False,
             "hovertemplate": "real<br>query %{y}<br>key %{x}<br>weight %{z:.3f}<extra></extra>"}]
    if broken is not None:
        data.append({"type": "heatmap", "z": broken, "x": labels, "y": labels, "xaxis": "x2",
                     "yaxis": "y2", "colorscale": "Blues", "zmin": 0, "zmax": 1,
                     "hovertemplate": "broken<br>query %{y}<br>key %{x}<br>weight %{z:.3f}"
                                      "<extra></extra>"})
    axis = {"type": "category", "tickangle": -50}
    yaxis = {"type": "category", "autorange": "reversed"}
    right = "broken: " + plotly_text(variant) if broken is not None else "(this mistake has no weights of its own)"
    return fast_figure(data, _layout(
        f"Weights: real (left) and {right} (right)", SMALL + 120,
        xaxis={**axis, "domain": [0, 0.47], "title": {"text": "real"}, "anchor": "y"},
        xaxis2={**axis, "domain": [0.53, 1], "title": {"text": "broken"}, "anchor": "y2"},
        yaxis=yaxis, yaxis2={**yaxis, "anchor": "x2", "showticklabels": False}))


def compare_bars_figure(tokens, series: dict[str, np.ndarray], title: str) -> go.Figure:
    """Several per-token (or per-head) measures as grouped bars, each scaled to its own
    largest |value| so they can be read side by side (hover shows the real numbers)."""
    labels = token_labels(tokens)
    colours = [PLAIN, ACCENT, "#16a34a", MUTED]
    data = []
    for i, (name, values) in enumerate(series.items()):
        v = np.asarray(values, np.float64)
        top = np.abs(v).max() or 1.0
        data.append({"type": "bar", "x": labels, "y": v / top, "customdata": v,
                     "name": plotly_text(name), "marker": {"color": colours[i % len(colours)]},
                     "hovertemplate": "%{x}<br>" + plotly_text(name) + " = %{customdata:.4f}"
                                      "<extra></extra>"})
    return fast_figure(data, _layout(
        title, barmode="group", xaxis={"type": "category", "tickangle": -50},
        yaxis={"title": {"text": "share of its largest"}},
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"}))
