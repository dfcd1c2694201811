"""Figures of the causal lab: the head-importance table one clicks, attention vs importance,
the patching heatmap and a CLIP ablation's before / after bars. numpy in, objects out.

The importance "heatmap" is a coloured table (pandas Styler) rather than a plotly figure:
gradio's Plot has no click event, its Dataframe has one (`.select` gives row and column),
and a table prints each head's number in its cell.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.colors as pc
import plotly.graph_objects as go

from ..types.causal import ActivationPatching, ClipHeadAblation
from .layout import fast_figure, plotly_text, unique_labels

DIVERGING = "RdBu"                 # red = removing the head lowers the target; blue = raises it
LAYER_COLUMN = "layer"


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1, ties sharing their mean rank (what Spearman's rho needs)."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), np.float64)
    ranks[order] = np.arange(len(x))
    for value in np.unique(x):                                   # ties: the mean of their ranks
        same = x == value
        if same.sum() > 1:
            ranks[same] = ranks[same].mean()
    return ranks


def correlations(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(Pearson r, Spearman rho) of two flat arrays; NaN where one of them is constant."""
    x, y = np.ravel(x).astype(np.float64), np.ravel(y).astype(np.float64)

    def pearson(a, b):
        a, b = a - a.mean(), b - b.mean()
        den = np.sqrt((a * a).sum() * (b * b).sum())
        return float((a * b).sum() / den) if den > 0 else float("nan")

    return pearson(x, y), pearson(_ranks(x), _ranks(y))


def _cell_colour(value: float, vmax: float) -> str:
    """CSS for one cell: red for a negative delta (the head supported the target), blue for
    a positive one, white at 0. The scale stops short of its darkest ends so black text
    reads on every cell (gradio paints a selected cell light and keeps the text colour:
    white text there vanished)."""
    t = 0.5 + 0.36 * float(np.clip(value / vmax, -1, 1)) if vmax > 0 else 0.5
    colour = pc.sample_colorscale(DIVERGING, [t])[0]
    return f"background-color: {colour}; color: black; text-align: center"


def importance_table(delta: np.ndarray, selected: tuple[int, int] | None = None):
    """A Styler: rows = layers, first column the layer's name, then one column per head with
    its delta (after - before) printed and coloured. delta: float32 [layer, head]."""
    n_layers, n_heads = delta.shape
    df = pd.DataFrame(delta.astype(np.float64), columns=[f"H{h}" for h in range(n_heads)])
    df.insert(0, LAYER_COLUMN, [f"L{i}" for i in range(n_layers)])
    vmax = float(np.abs(delta).max())

    def styles(frame: pd.DataFrame) -> pd.DataFrame:
        css = pd.DataFrame("font-weight: 600", index=frame.index, columns=frame.columns)
        for i in range(n_layers):
            for h in range(n_heads):
                css.iat[i, h + 1] = _cell_colour(delta[i, h], vmax)
        if selected is not None:
            i, h = selected
            css.iat[i, h + 1] += "; outline: 3px solid #16a34a; outline-offset: -3px"
        return css

    return df.style.apply(styles, axis=None).format("{:+.3f}", subset=list(df.columns[1:]))


def empty_importance_table(hint: str) -> pd.DataFrame:
    """What the table shows before a scan: one line saying how to fill it (an empty gradio
    Dataframe shows the placeholder headers "1 2 3", which reads as a bug)."""
    return pd.DataFrame({LAYER_COLUMN: ["—"], "heads": [hint]})


def clicked_head(index, shape: tuple[int, int]) -> tuple[int, int] | None:
    """(layer, head) of a click on `importance_table` at [row, column]; None on the layer
    names or outside the table."""
    try:
        row, col = (int(i) for i in index)
    except (TypeError, ValueError):
        return None
    if not (0 <= row < shape[0] and 1 <= col <= shape[1]):
        return None
    return row, col - 1


def importance_scatter(stat: np.ndarray, delta: np.ndarray, stat_label: str,
                       target: str) -> go.Figure:
    """Each head as a point: its attention statistic (x) against its importance |delta| (y),
    with the Pearson and Spearman correlations in the title. Both [layer, head]."""
    n_layers, n_heads = delta.shape
    importance = np.abs(delta).ravel()                                   # [layer * head]
    r, rho = correlations(stat, importance)
    names = [f"L{i} H{h}" for i in range(n_layers) for h in range(n_heads)]
    data = [{"type": "scatter", "mode": "markers", "x": stat.ravel().astype(np.float32),
             "y": importance.astype(np.float32),
             "customdata": delta.ravel().astype(np.float32), "text": names,
             "marker": {"size": 9, "color": np.repeat(np.arange(n_layers), n_heads),
                        "colorscale": "Viridis", "colorbar": {"title": {"text": "layer"}},
                        "line": {"width": 0.5, "color": "white"}},
             "hovertemplate": "%{text}<br>" + plotly_text(stat_label) +
                              " %{x:.3f}<br>|Δ| %{y:.4f} (Δ %{customdata:+.4f})<extra></extra>"}]
    title = (f"Attention vs importance: Pearson r = {r:+.2f}, Spearman ρ = {rho:+.2f} "
             f"({len(importance)} heads)")
    return fast_figure(data, {
        "title": {"text": title}, "height": 460, "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
        "xaxis": {"title": {"text": plotly_text(stat_label)}},
        "yaxis": {"title": {"text": f"importance: |change of the {plotly_text(target)}|"
                                    if len(target) < 40 else "importance: |change of the target|"}},
        "plot_bgcolor": "white"})


def patching_figure(p: ActivationPatching) -> go.Figure:
    """restored [layer, position | head] as a heatmap, 0 = nothing restored, 1 = all of it."""
    n_layers = p.restored.shape[0]
    if p.site == "residual":
        x = unique_labels([plotly_text(a if a == b else f"{a}→{b}")
                           for a, b in zip(p.tokens, p.corrupted_tokens)])
        differ = p.tokens != p.corrupted_tokens
        xtitle = "position (clean→corrupted where they differ)" if differ else "position"
        y = [f"after layer {i}" for i in range(n_layers)]
        what = "the residual stream at"
    else:
        x = [f"H{h}" for h in range(p.restored.shape[1])]
        xtitle, y, what = "head", [f"L{i}" for i in range(n_layers)], "head"
    limit = max(1.0, float(np.abs(p.restored).max()))
    data = [{"type": "heatmap", "z": p.restored.astype(np.float32), "x": x, "y": y,
             "colorscale": DIVERGING, "zmid": 0, "zmin": -limit, "zmax": limit,
             # numbers in the cells while they fit (an image has 50-257 tokens per layer)
             "texttemplate": "%{z:.0%}" if p.restored.shape[1] <= 32 else "",
             "textfont": {"size": 10},
             "colorbar": {"title": {"text": "restored"}, "tickformat": ".0%"},
             "hovertemplate": f"%{{y}}, {what} %{{x}}<br>restored %{{z:.1%}}<extra></extra>"}]
    title = (f"Share of the gap restored by copying one {'position' if p.site == 'residual' else 'head'}"
             f" from the clean run · clean {p.clean_value:.3f}, corrupted {p.corrupted_value:.3f}")
    return fast_figure(data, {
        "title": {"text": title}, "height": 140 + 40 * n_layers,
        "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
        "xaxis": {"title": {"text": xtitle}, "type": "category", "tickangle": -45},
        "yaxis": {"autorange": "reversed", "type": "category"}})


def clip_ablation_figure(a: ClipHeadAblation) -> go.Figure:
    """Each prompt's probability before and after removing the heads, as paired bars."""
    prompts = unique_labels([plotly_text(p) for p in a.prompts])
    heads = ", ".join(f"L{i} H{h}" for i, h in a.heads)
    delta = a.delta_prob
    data = [{"type": "bar", "name": "before", "x": prompts, "y": a.probs_before,
             "marker": {"color": "#94a3b8"}, "hovertemplate": "%{x}<br>before %{y:.3f}<extra></extra>"},
            {"type": "bar", "name": f"after removing {heads}", "x": prompts, "y": a.probs_after,
             "marker": {"color": "#dc2626"}, "customdata": delta,
             "text": [f"{d:+.3f}" for d in delta], "textposition": "outside",
             "hovertemplate": "%{x}<br>after %{y:.3f} (Δ %{customdata:+.3f})<extra></extra>"}]
    return fast_figure(data, {
        "title": {"text": f"Probability of each prompt before / after removing {heads} "
                          f"({a.mode} ablation)"},
        "barmode": "group", "height": 420, "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
        "yaxis": {"title": {"text": "probability (softmax over the prompts)"},
                  "range": [0, 1.12]},
        "legend": {"orientation": "h", "y": -0.15}, "plot_bgcolor": "white"})


def patching_grid_figure(p: ActivationPatching, rows: int, cols: int) -> go.Figure:
    """An image tower's residual patching as one small map per layer over the patch grid
    (restored [layer, token] -> [rows, cols] each; the [CLS] token's share in the map's title),
    on one shared colour scale. Tokens before the patches (a [CLS]) are taken as the first."""
    n_layers, n_tokens = p.restored.shape
    offset = n_tokens - rows * cols                                       # 1 with a [CLS], else 0
    per_row = min(4, n_layers)
    n_rows = -(-n_layers // per_row)
    limit = max(1.0, float(np.abs(p.restored).max()))
    data = []
    layout: dict = {"coloraxis": {"colorscale": pc.get_colorscale(DIVERGING), "cmid": 0,
                                  "cmin": -limit, "cmax": limit,
                                  "colorbar": {"title": {"text": "restored"}, "tickformat": ".0%"}}}
    gap_x, gap_y = 0.02, 0.06 / n_rows
    for layer in range(n_layers):
        i, j = divmod(layer, per_row)
        ax = "" if layer == 0 else str(layer + 1)
        grid = p.restored[layer, offset:].reshape(rows, cols).astype(np.float32)   # [row, col]
        data.append({"type": "heatmap", "z": grid, "coloraxis": "coloraxis",
                     "xaxis": f"x{ax}", "yaxis": f"y{ax}",
                     "hovertemplate": f"after layer {layer}<br>patch row %{{y}}, column %{{x}}"
                                      "<br>restored %{z:.1%}<extra></extra>"})
        x0, x1 = j / per_row + gap_x, (j + 1) / per_row - gap_x
        y0, y1 = 1 - (i + 1) / n_rows + gap_y, 1 - i / n_rows - 2 * gap_y
        cls = f" · [CLS] {p.restored[layer, 0]:.0%}" if offset else ""
        # square patches (constrain the domain, not the range); the map's name is its x axis's
        # title on top, so it moves with the map (a paper annotation stayed off-centre)
        layout[f"xaxis{ax}"] = {"domain": [x0, x1], "anchor": f"y{ax}", "constrain": "domain",
                                "side": "top", "showticklabels": False, "showgrid": False,
                                "zeroline": False, "ticks": "",
                                "title": {"text": f"after layer {layer}{cls}",
                                          "font": {"size": 12}, "standoff": 4}}
        layout[f"yaxis{ax}"] = {"domain": [y0, y1], "visible": False, "anchor": f"x{ax}",
                                "autorange": "reversed", "scaleanchor": f"x{ax}",
                                "constrain": "domain"}
    title = (f"Share of the gap restored by copying one image token from the clean run · "
             f"clean {p.clean_value:.3f}, corrupted {p.corrupted_value:.3f}")
    return fast_figure(data, layout | {
        "title": {"text": title}, "height": 80 + 230 * n_rows,
        "margin": {"l": 10, "r": 10, "t": 60, "b": 10}, "plot_bgcolor": "white"})
