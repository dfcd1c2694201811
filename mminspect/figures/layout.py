"""Shared helpers for figures: token subsets, downsampling, axis labels. numpy only."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go

from ..types import AttentionMaps


@dataclass(frozen=True)
class Axis:
    """Positions shown on one axis after hiding tokens and grouping long inputs.

    groups: list of index arrays into the original tokens (one per shown cell);
    labels: one label per group ("cat" or "cat … mat (12–19)").
    """

    groups: list[np.ndarray]
    labels: list[str]

    @property
    def grouped(self) -> bool:
        return any(len(g) > 1 for g in self.groups)


def shown_positions(maps: AttentionMaps, hide_special: bool) -> np.ndarray:
    """Indices of tokens to show; all of them if hiding would leave nothing."""
    keep = np.flatnonzero(~maps.special) if hide_special else np.arange(len(maps.tokens))
    return keep if len(keep) else np.arange(len(maps.tokens))


def plotly_text(text: str) -> str:
    """User text for a plotly label or hover: plotly.js renders a subset of HTML in text
    (`<a href>` becomes a live link, `<b>` bold), and turns entities back into characters, so
    escaping shows exactly what was typed."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def make_axis(tokens: list[str], keep: np.ndarray, max_cells: int) -> Axis:
    """Split the kept positions into at most `max_cells` contiguous groups (labels escaped
    for plotly: they are the user's text)."""
    tokens = [plotly_text(t) for t in tokens]
    groups = np.array_split(keep, min(len(keep), max_cells))
    labels = []
    for g in groups:
        if len(g) == 1:
            labels.append(tokens[g[0]])
        else:
            labels.append(f"{tokens[g[0]]} … {tokens[g[-1]]} ({g[0]}–{g[-1]})")
    return Axis(groups=groups, labels=labels)


def pool_matrix(m: np.ndarray, rows: Axis, cols: Axis, renormalize: bool = False) -> np.ndarray:
    """Attention [query, key] -> [row group, col group]: mean over the query block (a typical
    row), sum over the key block (so a row still says where the attention went).

    renormalize: divide each query's row by its sum over the shown keys first, so rows still
    sum to 1 when special tokens are hidden (else a head parked on [SEP] looks empty)."""
    if renormalize:
        shown = m[:, np.concatenate(cols.groups)].sum(1, keepdims=True)  # [query, 1]
        m = m / np.where(shown > 0, shown, 1.0)
    r = np.stack([m[g].mean(0) for g in rows.groups])                 # [row group, key]
    return np.stack([r[:, g].sum(1) for g in cols.groups], axis=1)     # [row group, col group]


def hide_future(z: np.ndarray, rows: Axis, cols: Axis, causal: bool) -> np.ndarray:
    """For decoders, NaN (drawn blank) where every key of a cell lies after every query:
    masked by design, which is different from "attended with weight 0"."""
    if not causal:
        return z
    first_key = np.array([g[0] for g in cols.groups])                 # [col group]
    last_query = np.array([g[-1] for g in rows.groups])               # [row group]
    return np.where(first_key[None, :] > last_query[:, None], np.nan, z)


def unique_labels(labels: list[str]) -> list[str]:
    """Plotly merges equal category labels ("the" twice -> one row): make each unique with
    zero-width spaces, which are invisible on screen and in hover text."""
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        n = seen.get(lab, 0)
        seen[lab] = n + 1
        out.append(lab + "\u200b" * n)
    return out


def fast_figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain trace dicts, without plotly's per-property validation.

    Why: validation is most of the cost of building a figure (50 line traces: 200 ms with,
    19 ms without, measured here), and a slider step must redraw at once. The dicts are
    written in this package against plotly's schema; the browser tests check they render.

    Colour scales named by a string are resolved here, as validation would: unvalidated, the
    name reaches plotly.js, whose own "Blues" runs the other way (dark blue = 0, light grey =
    1) and which has no "Magma" at all."""
    for trace in data:
        if isinstance(trace.get("colorscale"), str):
            trace["colorscale"] = pc.get_colorscale(trace["colorscale"])
    return go.Figure(data=data, layout=layout, _validate=False)


def note_figure(text: str, height: int = 160) -> go.Figure:
    """An empty panel that says why it is empty (a blank plot box reads as a bug)."""
    return fast_figure([], {"height": height, "xaxis": {"visible": False},
                            "yaxis": {"visible": False}, "plot_bgcolor": "white",
                            "annotations": [{"text": text, "showarrow": False, "x": 0.5, "y": 0.5,
                                             "xref": "paper", "yref": "paper",
                                             "font": {"size": 14}}]})
