"""Plotly views of attention: model view (grid), one head, head view (lines), head summary,
rollout and hidden-state norms. numpy in, `go.Figure` out; no model, no torch.

Long inputs are grouped into contiguous blocks (see `layout.make_axis`) so no figure sends
more than a few hundred kB to the browser, whatever the text length.
"""
from __future__ import annotations

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..types import AttentionMaps, HeadSummary, Rollout, TextView
from .layout import (Axis, fast_figure, hide_future, make_axis, pool_matrix, shown_positions,
                     unique_labels)

GRID_CELLS = 16      # per side of each small heatmap in the model view
HEAD_CELLS = 128     # per side of the enlarged head
LINE_CELLS = 64      # tokens per column in the head view
SCALE = "Blues"


def _axes(maps: AttentionMaps, hide_special: bool, cells: int) -> Axis:
    return make_axis(maps.tokens, shown_positions(maps, hide_special), cells)


def head_heatmap(maps: AttentionMaps, layer: int, head: int, hide_special: bool = False) -> go.Figure:
    """One head's pattern, query (rows) x key (columns), with hover values."""
    ax = _axes(maps, hide_special, HEAD_CELLS)
    z = pool_matrix(maps.weights[layer, head], ax, ax, hide_special).astype(np.float32)  # [query, key]
    z = hide_future(z, ax, ax, maps.causal)
    labels = unique_labels(ax.labels)
    title = f"Layer {layer}, head {head}"
    if ax.grouped:
        title += " (long input: blocks of tokens, rows averaged, columns summed)"
    if hide_special:
        title += " · special tokens hidden, rows renormalised"
    if maps.causal:
        title += " · blank = masked (a decoder cannot see later tokens)"
    return fast_figure(
        [{"type": "heatmap", "z": z, "x": labels, "y": labels, "colorscale": SCALE, "zmin": 0,
          "zmax": 1, "colorbar": {"title": {"text": "weight"}},
          "hovertemplate": "query %{y}<br>key %{x}<br>weight %{z:.3f}<extra></extra>"}],
        {"title": {"text": title}, "height": 560, "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
         "xaxis": {"title": {"text": "key (attended to)"}, "tickangle": -60, "type": "category"},
         "yaxis": {"title": {"text": "query (attending)"}, "autorange": "reversed",
                   "type": "category"}})


def model_view(maps: AttentionMaps, hide_special: bool = False,
               selected: tuple[int, int] | None = None) -> go.Figure:
    """Every layer (rows) x head (columns) as a small heatmap on one colour scale.

    Drawn as ONE heatmap with the heads tiled into a [layer * cells, head * cells] matrix and
    blank (NaN) gutters: 72 subplots cost ~0.4 s to build and redraw, one trace a few ms."""
    n_layers, n_heads = maps.n_layers, maps.n_heads
    ax = _axes(maps, hide_special, GRID_CELLS)
    g = len(ax.groups)
    step = g + 1                                                           # cells + gutter
    z = np.full((n_layers * step - 1, n_heads * step - 1), np.nan, np.float32)
    for layer in range(n_layers):
        for head in range(n_heads):
            cell = pool_matrix(maps.weights[layer, head], ax, ax, hide_special)   # [g, g]
            z[layer * step:layer * step + g, head * step:head * step + g] = \
                hide_future(cell, ax, ax, maps.causal)
    # Category labels carry the layer / head and token into the hover; gutters get blanks.
    ys = unique_labels([f"L{layer} · {ax.labels[i]}" if i < g else "" for layer in range(n_layers)
                        for i in range(step)][:-1])
    xs = unique_labels([f"H{head} · {ax.labels[i]}" if i < g else "" for head in range(n_heads)
                        for i in range(step)][:-1])
    notes = [{"x": head * step + (g - 1) / 2, "y": -1.2, "text": f"H{head}", "showarrow": False,
              "xref": "x", "yref": "y", "font": {"size": 11}} for head in range(n_heads)]
    notes += [{"x": -0.8, "y": layer * step + (g - 1) / 2, "text": f"L{layer}", "showarrow": False,
               "xref": "x", "yref": "y", "xanchor": "right", "font": {"size": 11}}
              for layer in range(n_layers)]
    shapes = []
    if selected is not None:
        x0, y0 = selected[1] * step - 0.5, selected[0] * step - 0.5
        shapes.append({"type": "rect", "x0": x0 - 0.3, "x1": x0 + g + 0.3, "y0": y0 - 0.3,
                       "y1": y0 + g + 0.3, "line": {"color": "crimson", "width": 3}})
    return fast_figure(
        [{"type": "heatmap", "z": z, "x": xs, "y": ys, "colorscale": SCALE, "zmin": 0, "zmax": 1,
          "colorbar": {"title": {"text": "weight"}, "thickness": 12}, "hoverongaps": False,
          "hovertemplate": "query %{y}<br>key %{x}<br>weight %{z:.3f}<extra></extra>"}],
        {"height": max(360, 70 * n_layers), "margin": {"l": 40, "r": 10, "t": 30, "b": 10},
         "xaxis": {"showticklabels": False, "showgrid": False, "type": "category"},
         "yaxis": {"showticklabels": False, "showgrid": False, "autorange": "reversed",
                   "type": "category"},
         "annotations": notes, "shapes": shapes, "plot_bgcolor": "white"})


def head_view(maps: AttentionMaps, layer: int, hide_special: bool = False,
              selected_heads: list[int] | None = None, min_weight: float = 0.05,
              top_k: int = 4) -> go.Figure:
    """Lines from each query token (left) to the tokens it attends to (right), one colour per
    head; line opacity follows the weight. Heads not in `selected_heads` start hidden (click
    them in the legend): all twelve at once is a tangle."""
    ax = _axes(maps, hide_special, LINE_CELLS)
    n = len(ax.groups)
    shown = set(range(maps.n_heads) if selected_heads is None else selected_heads)
    palette = pc.qualitative.Dark24
    y = -np.arange(n, dtype=float)
    data: list[dict] = []
    buckets = [(min_weight, 0.25, 0.25), (0.25, 0.5, 0.5), (0.5, 1.01, 0.9)]  # (lo, hi, opacity)
    for head in range(maps.n_heads):
        w = pool_matrix(maps.weights[layer, head], ax, ax, hide_special)   # [query, key]
        # Keep each query's top_k keys: enough to read the pattern, bounded in size.
        order = np.argsort(-w, axis=1)[:, :top_k]                          # [query, top_k]
        kept = np.take_along_axis(w, order, 1)                             # [query, top_k]
        colour = palette[head % len(palette)]
        visible = True if head in shown else "legendonly"
        # An empty trace carries the legend entry, so every head has one even with no lines.
        data.append({"type": "scatter", "x": [None], "y": [None], "mode": "lines",
                     "line": {"color": colour, "width": 3}, "legendgroup": f"h{head}",
                     "name": f"head {head}", "visible": visible})
        for lo, hi, alpha in buckets:
            q, k = np.nonzero((kept >= lo) & (kept < hi))                   # [line], [line]
            xs = np.tile([0.0, 1.0, np.nan], len(q))
            ys = np.stack([y[q], y[order[q, k]], np.full(len(q), np.nan)], 1).ravel()
            data.append({"type": "scatter", "x": xs, "y": ys, "mode": "lines",
                         "line": {"color": colour, "width": 1 + 3 * alpha}, "opacity": alpha,
                         "legendgroup": f"h{head}", "showlegend": False, "visible": visible,
                         "hoverinfo": "skip", "connectgaps": False})
    for x, side in ((0, "left"), (1, "right")):   # labels outside the columns, not on the lines
        data.append({"type": "scatter", "x": [x] * n, "y": y, "mode": "text", "text": ax.labels,
                     "textposition": f"middle {side}", "showlegend": False,
                     "hovertemplate": "%{text}<extra></extra>"})
    title = f"Layer {layer}: query tokens (left) → attended tokens (right)"
    if hide_special:
        title += " · special tokens hidden, rows renormalised"
    return fast_figure(data, {
        "title": {"text": title}, "height": max(420, 24 * n + 100),
        "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
        "xaxis": {"visible": False, "range": [-0.8, 1.8]}, "yaxis": {"visible": False},
        "plot_bgcolor": "white", "legend": {"title": {"text": "click to show/hide"}}})


SUMMARY_TITLES = {
    "entropy": "entropy (nats): low = focused",
    "distance": "mean distance (tokens)",
    "special": "share to special tokens",
    "self_": "share to itself",
    "previous": "share to previous token",
    "first": "share to first token (attention sink)",
}


def head_summary_figure(summary: HeadSummary) -> go.Figure:
    """One layer x head heatmap per statistic (2 per row, so the printed values fit)."""
    names = list(SUMMARY_TITLES)
    n_rows = (len(names) + 1) // 2
    fig = make_subplots(rows=n_rows, cols=2, subplot_titles=[SUMMARY_TITLES[k] for k in names],
                        horizontal_spacing=0.08, vertical_spacing=0.12)
    for i, key in enumerate(names):
        z = getattr(summary, key)                                           # [layer, head]
        fig.add_trace(go.Heatmap(
            z=z.astype(np.float32), colorscale="Viridis", showscale=False,
            texttemplate="%{z:.2f}", textfont={"size": 10},
            hovertemplate=f"layer %{{y}}, head %{{x}}<br>{key.rstrip('_')} %{{z:.3f}}<extra></extra>"),
            row=i // 2 + 1, col=i % 2 + 1)
    fig.update_xaxes(title_text="head", dtick=1)
    fig.update_yaxes(title_text="layer", dtick=1, autorange="reversed")
    n_layers = summary.entropy.shape[0]
    fig.update_layout(height=n_rows * (26 * n_layers + 110), margin={"l": 10, "r": 10, "t": 40, "b": 30})
    return fig


READOUT_TITLES = {
    "mean": "share of the mean-pooled embedding traced to each token",
    "first": "share of the first token's output (what a [CLS] classifier reads) traced to each token",
    "last": "share of the last token's output (where the next token is predicted) traced to each token",
}


def rollout_figure(roll: Rollout, special: np.ndarray, hide_special: bool = False,
                   readout: str = "mean", causal: bool = False) -> go.Figure:
    """Rollout matrix, and how much of the model's read-out position(s) flows from each token.

    readout: "mean" (sentence embeddings average every row), "first" ([CLS] classifiers) or
    "last" (decoders predict the next token there).
    """
    maps = AttentionMaps(weights=roll.weights[None, None], tokens=roll.tokens, special=special)
    ax = _axes(maps, hide_special, HEAD_CELLS)
    z = hide_future(pool_matrix(roll.weights, ax, ax, hide_special), ax, ax, causal).astype(np.float32)
    rows = {"mean": roll.weights.mean(0), "first": roll.weights[0], "last": roll.weights[-1]}
    flow = rows[readout]                                                     # [key]
    flow_g = np.array([flow[g].sum() for g in ax.groups], dtype=np.float32)
    labels = unique_labels(ax.labels)
    # Two stacked panels by hand (make_subplots + validation cost ~100 ms per toggle).
    titles = [("rollout: query ← input token", 1.0), (READOUT_TITLES[readout], 0.27)]
    return fast_figure(
        [{"type": "heatmap", "z": z, "x": labels, "y": labels, "colorscale": SCALE, "zmin": 0,
          "xaxis": "x", "yaxis": "y", "colorbar": {"len": 0.68, "y": 1.0, "yanchor": "top"},
          "hovertemplate": "position %{y}<br>from input %{x}<br>%{z:.3f}<extra></extra>"},
         {"type": "bar", "x": labels, "y": flow_g, "marker": {"color": "steelblue"},
          "xaxis": "x2", "yaxis": "y2", "hovertemplate": "%{x}: %{y:.3f}<extra></extra>"}],
        {"height": 760, "showlegend": False, "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
         "xaxis": {"domain": [0, 1], "anchor": "y", "type": "category"},
         "yaxis": {"domain": [0.33, 1], "anchor": "x", "autorange": "reversed", "type": "category"},
         "xaxis2": {"domain": [0, 1], "anchor": "y2", "type": "category"},
         "yaxis2": {"domain": [0, 0.25], "anchor": "x2"},
         "annotations": [{"text": t, "x": 0.5, "y": y, "xref": "paper", "yref": "paper",
                          "xanchor": "center", "yanchor": "bottom", "showarrow": False,
                          "font": {"size": 14}} for t, y in titles]})


def hidden_norms_figure(view: TextView, hide_special: bool = False) -> go.Figure:
    """L2 norm of each position's residual stream after the embeddings and each layer."""
    ax = _axes(view.attention, hide_special, HEAD_CELLS)
    z = np.stack([view.hidden_norms[:, g].mean(1) for g in ax.groups], axis=1)  # [layer+1, group]
    ylabels = ["embeddings"] + [f"after layer {i}" for i in range(z.shape[0] - 1)]
    return fast_figure(
        [{"type": "heatmap", "z": z.astype(np.float32), "x": unique_labels(ax.labels),
          "y": ylabels, "colorscale": "Magma",
          "hovertemplate": "%{y}<br>%{x}<br>norm %{z:.2f}<extra></extra>"}],
        {"height": 120 + 28 * z.shape[0], "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
         "xaxis": {"type": "category"}, "yaxis": {"autorange": "reversed", "type": "category"}})
