"""Figures of a comparison (`mi.compare`): A and B side by side on one colour scale, the
difference A − B on its own diverging scale, and where the attention changed most.
numpy in, `go.Figure` out; no model, no torch."""
from __future__ import annotations

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go

from ..types.compare import Comparison
from .layout import fast_figure, plotly_text, unique_labels

LN2 = float(np.log(2.0))


def _labels(diff: Comparison) -> list[str]:
    return unique_labels([plotly_text(t) for t in diff.alignment.labels])


def _side(diff: Comparison, which: str) -> str:
    view = diff.a if which == "A" else diff.b
    return plotly_text(f"{which}: {view.model_name}")


def _triptych(za: np.ndarray, zb: np.ndarray, x: list, y: list, names: list[str], title: str,
              scale: tuple[str, float, float], hover: str, categories: bool = True) -> go.Figure:
    """A, B on one colour scale (`scale`: name, min, max) and A − B on a red–blue scale
    centred on 0 (red: A higher), side by side."""
    d = za - zb
    span = float(max(np.abs(d).max(), 1e-6))
    data = [{"type": "heatmap", "z": z, "x": x, "y": y, "coloraxis": ax,
             "xaxis": f"x{i + 1 if i else ''}", "yaxis": f"y{i + 1 if i else ''}",
             "hovertemplate": hover}
            for i, (z, ax) in enumerate(((za, "coloraxis"), (zb, "coloraxis"), (d, "coloraxis2")))]
    layout = {
        "title": {"text": title}, "height": 520, "margin": {"l": 10, "r": 10, "t": 90, "b": 10},
        "coloraxis": {"colorscale": pc.get_colorscale(scale[0]), "cmin": scale[1], "cmax": scale[2],
                      "colorbar": {"title": {"text": "A, B"}, "x": 1.0, "len": 0.45, "y": 0.78}},
        "coloraxis2": {"colorscale": pc.get_colorscale("RdBu"), "reversescale": True,
                       "cmin": -span, "cmax": span,
                       "colorbar": {"title": {"text": "A − B"}, "x": 1.0, "len": 0.45, "y": 0.22}},
        "annotations": [{"text": t, "x": 0.16 + 0.335 * i, "y": 1.0, "xref": "paper",
                         "yref": "paper", "showarrow": False, "yanchor": "bottom"}
                        for i, t in enumerate(names)],
    }
    kind = {"type": "category"} if categories else {}
    for i in range(3):
        s = str(i + 1) if i else ""
        layout[f"xaxis{s}"] = {"domain": [0.335 * i, 0.335 * i + 0.3], "tickangle": -60,
                               "anchor": f"y{s}", **kind}
        layout[f"yaxis{s}"] = {"domain": [0, 0.9], "autorange": "reversed", "anchor": f"x{s}",
                               "showticklabels": i == 0, **kind}
    return fast_figure(data, layout)


def compare_head_figure(diff: Comparison, layer: int, head: int | None) -> go.Figure:
    """Three heatmaps on the aligned tokens: A's head, B's head (B's layer mapped by relative
    depth), sharing one colour scale, and A − B on a diverging scale centred on 0. Rows =
    query, columns = key; a slot one text lacks is a blank row and column on that side."""
    wa, wb = diff.aligned_attention(layer, head)                           # [pos, pos] each
    labels = _labels(diff)
    b_layer = int(diff.layer_map[layer])
    head_txt = "mean over heads" if head is None or diff.head_js.shape[1] == 1 else f"head {head}"
    js = float(diff.head_js[layer, 0 if diff.head_js.shape[1] == 1 or head is None else head])
    names = [f"{_side(diff, 'A')}<br>layer {layer}, {head_txt}",
             f"{_side(diff, 'B')}<br>layer {b_layer}, {head_txt}", "A − B (red: more in A)"]
    title = (f"Attention distance (Jensen–Shannon) {js:.3f} nats of at most {LN2:.3f}: "
             f"0 = the same pattern, {LN2:.2f} = no key in common")
    return _triptych(wa, wb, labels, labels, names, title,
                     ("Blues", 0.0, float(max(wa.max(), wb.max(), 1e-6))),
                     "query %{y}<br>key %{x}<br>%{z:.3f}<extra></extra>")


def patch_change_figure(diff: Comparison, prompt: int) -> go.Figure:
    """One prompt's relevance per patch: A, B (each divided by its own largest |value|, so
    one scale from −1 to 1) and A − B."""
    za, zb = diff.patch_a[prompt], diff.patch_b[prompt]                    # [rows, cols] each
    names = [_side(diff, "A"), _side(diff, "B"), "A − B (red: A relies more on the patch)"]
    title = (f"Relevance of “{plotly_text(diff.a.prompts[prompt])}” per patch (each map / its "
             "largest value)")
    rows, cols = za.shape
    return _triptych(za, zb, list(range(cols)), list(range(rows)), names, title,
                     ("RdBu_r", -1.0, 1.0), "row %{y}, col %{x}<br>%{z:+.3f}<extra></extra>",
                     categories=False)


def head_change_figure(diff: Comparison) -> go.Figure:
    """Jensen–Shannon distance of every layer (rows) × head (columns): where A and B attend
    differently. The most changed heads are outlined."""
    js = diff.head_js                                                     # [layer, head]
    heads = [str(h) for h in range(js.shape[1])] if js.shape[1] > 1 else ["mean"]
    deeper = diff.depths[0] != diff.depths[1]                      # depths differ: say the pairing
    rows = [f"A{i}↔B{j}" if deeper else f"L{i}" for i, j in enumerate(diff.layer_map)]
    shapes = [{"type": "rect", "x0": h - 0.5, "x1": h + 0.5, "y0": lay - 0.5, "y1": lay + 0.5,
               "line": {"color": "red", "width": 2}} for lay, h, _ in diff.top_heads[:3]]
    return fast_figure(
        [{"type": "heatmap", "z": js, "x": list(range(len(heads))), "y": list(range(len(rows))),
          "colorscale": "Oranges", "zmin": 0, "zmax": max(float(js.max()), 1e-6),
          "colorbar": {"title": {"text": "JS (nats)"}},
          "customdata": [[r] * len(heads) for r in rows],
          "hovertemplate": "%{customdata} head %{x}<br>JS %{z:.3f}<extra></extra>"}],
        {"title": {"text": "How much each head's attention changed from A to B (red boxes: the "
                           "three that changed most)"},
         "height": 360, "margin": {"l": 10, "r": 10, "t": 50, "b": 10}, "shapes": shapes,
         "xaxis": {"title": {"text": "head"}, "tickvals": list(range(len(heads))), "ticktext": heads},
         "yaxis": {"title": {"text": "layer"}, "tickvals": list(range(len(rows))), "ticktext": rows,
                   "autorange": "reversed"}})


def word_change_figure(diff: Comparison) -> go.Figure:
    """Top: the attribution of each aligned word in A and in B, on one axis (one scale).
    Bottom: A − B, red where A's score is higher, blue where B's is; a word only one text
    has is left empty there (there is nothing to subtract)."""
    labels = _labels(diff)
    bars = [{"type": "bar", "x": labels, "y": [None if np.isnan(v) else float(v) for v in vals],
             "name": name, "marker": {"color": colour}, "xaxis": "x", "yaxis": "y",
             "hovertemplate": "%{x}<br>%{y:.4f}<extra>" + name + "</extra>"}
            for vals, name, colour in ((diff.word_a, _side(diff, "A"), "#64748b"),
                                       (diff.word_b, _side(diff, "B"), "#f59e0b"))]
    d = diff.word_diff
    delta = {"type": "bar", "x": labels, "y": [None if np.isnan(v) else float(v) for v in d],
             "name": "A − B", "xaxis": "x2", "yaxis": "y2", "showlegend": False,
             "marker": {"color": ["#b91c1c" if v > 0 else "#1d4ed8" for v in np.nan_to_num(d)]},
             "hovertemplate": "%{x}<br>A − B %{y:+.4f}<extra></extra>"}
    return fast_figure(bars + [delta], {
        "title": {"text": "Attribution per aligned word: A and B on one scale (top), A − B "
                          "(bottom; red: A higher, blue: B higher)"},
        "barmode": "group", "height": 520, "margin": {"l": 10, "r": 10, "t": 60, "b": 10},
        "legend": {"orientation": "h", "y": 1.08},
        "xaxis": {"type": "category", "domain": [0, 1], "anchor": "y", "showticklabels": False},
        "yaxis": {"domain": [0.5, 1], "title": {"text": "score"}, "zeroline": True},
        "xaxis2": {"type": "category", "domain": [0, 1], "anchor": "y2", "tickangle": -45},
        "yaxis2": {"domain": [0, 0.4], "title": {"text": "A − B"}, "zeroline": True}})
