"""Figures of dataset mode: head importance over the set (layer x head) and each method's
mean faithfulness with its bootstrap interval. numpy / pandas in, plotly figures out."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .layout import fast_figure, note_figure

DIVERGING = "RdBu"        # as the causal lab: red = removing the head lowers the target


def head_heatmap(mean: np.ndarray | None, std: np.ndarray | None, n_rows: int) -> go.Figure:
    """mean, std: [layer, head] over the set. Each cell: the target's mean change when that
    head alone is removed; hover gives the spread across the rows."""
    if mean is None:
        return note_figure("No head importance: run with “Head importance” ticked.")
    mean = np.asarray(mean, dtype=np.float64)                           # [layer, head]
    std = np.zeros_like(mean) if std is None else np.asarray(std, np.float64)
    layers, heads = mean.shape
    vmax = float(np.abs(mean).max()) or 1.0
    text = [[f"layer {la}, head {h}<br>mean change {mean[la, h]:+.3f}<br>spread (sd) "
             f"{std[la, h]:.3f}" for h in range(heads)] for la in range(layers)]
    trace = {"type": "heatmap", "z": mean.tolist(), "x": list(range(heads)),
             "y": list(range(layers)), "colorscale": DIVERGING, "zmid": 0.0,
             "zmin": -vmax, "zmax": vmax, "text": text, "hoverinfo": "text",
             "colorbar": {"title": {"text": "mean change"}}}
    return fast_figure([trace], {
        "title": {"text": f"Head importance over {n_rows} rows: the target's mean change when "
                          "one head is removed"},
        "xaxis": {"title": {"text": "head"}, "dtick": 1},
        "yaxis": {"title": {"text": "layer"}, "dtick": 1, "autorange": "reversed"},
        "height": 360, "margin": {"l": 60, "r": 20, "t": 50, "b": 50}})


def faithfulness_bars(faith: pd.DataFrame, labels: dict[str, str] | None = None) -> go.Figure:
    """Deletion and insertion areas per method: the mean over the rows, whiskers = the
    bootstrap interval (higher is better; 0 is a random order of the words)."""
    labels = labels or {}
    rows = faith[faith["metric"].isin(["deletion_area", "insertion_area"]) & (faith["n"] > 0)]
    if rows.empty:
        return note_figure("No faithfulness numbers yet.")
    data = []
    for metric, colour in (("deletion_area", "#b91c1c"), ("insertion_area", "#1d4ed8")):
        part = rows[rows["metric"] == metric]
        mean = part["mean"].to_numpy(np.float64)
        data.append({"type": "bar", "name": metric.replace("_", " "), "marker": {"color": colour},
                     "x": [labels.get(m, m) for m in part["method"]], "y": mean.tolist(),
                     "error_y": {"type": "data", "symmetric": False,
                                 "array": (part["high"].to_numpy() - mean).tolist(),
                                 "arrayminus": (mean - part["low"].to_numpy()).tolist()}})
    return fast_figure(data, {
        "title": {"text": "Faithfulness per method: mean over the rows, 95 % bootstrap interval"},
        "barmode": "group", "yaxis": {"title": {"text": "area (target units; > 0 beats random)"}},
        "height": 340, "margin": {"l": 60, "r": 20, "t": 50, "b": 60}})
