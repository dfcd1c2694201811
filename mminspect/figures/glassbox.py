"""One head's computation, step by step: a small figure per step, drawn from a `HeadTrace`
(numpy in, plotly out; no model). Every number on screen is the trace's own value on hover.

The steps follow the order of the computation (see `STEPS`): x -> q, k, v -> q·k -> ÷√d ->
mask -> softmax -> weights·v -> W_O -> added to the residual. `q` is the query position the
student picked; long inputs show a window of tokens around it (`WINDOW`).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..types import HeadTrace
from .layout import fast_figure, plotly_text, unique_labels

WINDOW = 48           # tokens shown in a [token, ...] heatmap, around the query
SMALL = 320           # figure height: small panels, one step at a time
ACCENT = "#c2410c"    # the query (or the top key)
PLAIN = "#60a5fa"
MUTED = "#cbd5e1"


def token_labels(tokens) -> list[str]:
    """Tokens as unique, escaped category labels (the user's text; plotly renders HTML)."""
    return unique_labels([plotly_text(t) for t in tokens])


def window(n: int, q: int, size: int = WINDOW) -> np.ndarray:
    """Positions shown in token-row heatmaps: all of them, or `size` around the query."""
    start = max(0, min(q - size // 2, n - size))
    return np.arange(start, min(n, start + size))


def _layout(title: str, height: int = SMALL, **more) -> dict:
    return {"title": {"text": title, "font": {"size": 14}}, "height": height,
            "margin": {"l": 10, "r": 10, "t": 48, "b": 10}, "plot_bgcolor": "white", **more}


def _bars(tokens, values: np.ndarray, q_or_top: int, hover: str, name: str = "",
          colours: list[str] | None = None) -> dict:
    colours = colours or [ACCENT if i == q_or_top else PLAIN for i in range(len(values))]
    return {"type": "bar", "x": token_labels(tokens), "y": np.asarray(values, np.float64),
            "marker": {"color": colours}, "name": name, "hovertemplate": hover + "<extra></extra>"}


def _cat_x(title: str) -> dict:
    return {"title": {"text": title}, "type": "category", "tickangle": -50}


def _rows_heatmap(tr: HeadTrace, m: np.ndarray, q: int, title: str, what: str,
                  height: int = SMALL) -> go.Figure:
    """A [token, feature] matrix as a heatmap (a window of rows around the query)."""
    rows = window(len(tr.tokens), q)
    labels = token_labels(tr.tokens)
    y = [("▶ " if i == q else "") + labels[i] for i in rows]
    z = m[rows]                                                         # [row, feature]
    return fast_figure(
        [{"type": "heatmap", "z": z, "y": y, "colorscale": "RdBu", "zmid": 0, "reversescale": True,
          "hovertemplate": "token %{y}<br>" + what + " number %{x}: %{z:.4f}<extra></extra>"}],
        _layout(title, height, xaxis={"title": {"text": f"{what} number (0–{m.shape[1] - 1})"}},
                yaxis={"type": "category", "autorange": "reversed"}))


def x_figure(tr: HeadTrace, q: int) -> go.Figure:
    """x [token, d_model]: what the attention reads, one row per token."""
    norm = np.linalg.norm(tr.x[q])
    where = ("the residual stream itself (this model normalises after the sum)" if tr.norm == "post"
             else "the residual stream after LayerNorm (this model normalises first)")
    return _rows_heatmap(tr, tr.x, q, f"x: {tr.x.shape[1]} numbers per token = {where}; "
                         f"‖x‖ of the query = {norm:.2f}", "x")


def qkv_figure(tr: HeadTrace, q: int) -> go.Figure:
    """q, k, v [token, d_head] side by side in ONE heatmap (a blank column between them):
    three projections of the same x. One axis pair, so plotly redraws it cheaply and safely."""
    rows = window(len(tr.tokens), q)
    labels = token_labels(tr.tokens)
    y = [("▶ " if i == q else "") + labels[i] for i in rows]
    d = tr.d_head
    gap = np.full((len(rows), 1), np.nan, np.float32)
    z = np.hstack([tr.q[rows], gap, tr.k[rows], gap, tr.v[rows]])     # [row, 3 * d + 2]
    x = ([f"q{j}" for j in range(d)] + [" "] + [f"k{j}" for j in range(d)] + ["  "]
         + [f"v{j}" for j in range(d)])
    ticks = [x[d // 2], x[d + 1 + d // 2], x[2 * d + 2 + d // 2]]
    return fast_figure(
        [{"type": "heatmap", "z": z, "x": x, "y": y, "colorscale": "RdBu", "zmid": 0,
          "reversescale": True, "hoverongaps": False,
          "hovertemplate": "%{y}<br>%{x}: %{z:.4f}<extra></extra>"}],
        _layout(f"q, k, v: {d} numbers each per token (this head's slice of {tr.x.shape[1]} = "
                f"{tr.n_heads} heads × {d})", SMALL,
                xaxis={"type": "category", "tickvals": ticks,
                       "ticktext": ["q (query)", "k (key)", "v (value)"]},
                yaxis={"type": "category", "autorange": "reversed"}))


def scores_figure(tr: HeadTrace, q: int) -> go.Figure:
    """Row q of q·kᵀ: one raw score per key."""
    row = tr.scores[q]                                                  # [key]
    top = int(np.argmax(np.where(tr.mask[q], row, -np.inf)))
    return fast_figure(
        [_bars(tr.tokens, row, top, "key %{x}<br>q·k = %{y:.4f}")],
        _layout(f"q·k for query “{plotly_text(tr.tokens[q])}”: largest at "
                f"“{plotly_text(tr.tokens[top])}” ({row[top]:.2f})",
                xaxis=_cat_x("key"), yaxis={"title": {"text": "q·k (raw)"}}))


def scale_figure(tr: HeadTrace, q: int) -> go.Figure:
    """Raw scores and scaled scores side by side, with the softmax entropy of each."""
    raw = tr.scores[q]
    with_s, without = row_softmax(raw * tr.scale, tr.mask[q]), row_softmax(raw, tr.mask[q])
    labels = token_labels(tr.tokens)
    data = [{"type": "bar", "x": labels, "y": raw.astype(np.float64), "name": "q·k",
             "marker": {"color": MUTED}, "hovertemplate": "%{x}: q·k = %{y:.4f}<extra></extra>"},
            {"type": "bar", "x": labels, "y": (raw * tr.scale).astype(np.float64),
             "name": f"q·k ÷ √{tr.d_head}", "marker": {"color": PLAIN},
             "hovertemplate": "%{x}: q·k ÷ √d = %{y:.4f}<extra></extra>"}]
    return fast_figure(data, _layout(
        f"÷√d = × {tr.scale:.4f}. Softmax entropy: {entropy(with_s):.3f} nats with the scale, "
        f"{entropy(without):.3f} without (lower = sharper)", barmode="group",
        xaxis=_cat_x("key"), legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right",
                                     "yanchor": "bottom"}))


def mask_figure(tr: HeadTrace, q: int) -> go.Figure:
    """The mask [query, key]: 1 = the query may look at the key."""
    labels = token_labels(tr.tokens)
    seen = int(tr.mask[q].sum())
    kind = ("a decoder: no query sees a later key (upper triangle blank)" if tr.causal
            else "an encoder: every token sees every token (both ways)")
    return fast_figure(
        [{"type": "heatmap", "z": tr.mask.astype(np.float32), "x": labels, "y": labels,
          "colorscale": [[0, "#f8fafc"], [1, "#1d4ed8"]], "zmin": 0, "zmax": 1, "showscale": False,
          "hovertemplate": "query %{y}<br>key %{x}<br>visible: %{z}<extra></extra>"}],
        _layout(f"Mask of {kind}; query “{plotly_text(tr.tokens[q])}” sees {seen} of "
                f"{len(tr.tokens)} keys", SMALL + 60, xaxis=_cat_x("key"),
                yaxis={"type": "category", "autorange": "reversed", "title": {"text": "query"}},
                shapes=[{"type": "rect", "xref": "paper", "x0": 0, "x1": 1, "yref": "y",
                         "y0": q - 0.5, "y1": q + 0.5, "line": {"color": ACCENT, "width": 2}}]))


def softmax_figure(tr: HeadTrace, q: int) -> go.Figure:
    row = tr.weights[q]                                                 # [key], sums to 1
    top = int(np.argmax(row))
    return fast_figure(
        [_bars(tr.tokens, row, top, "key %{x}<br>weight %{y:.4f}")],
        _layout(f"Softmax: weights of “{plotly_text(tr.tokens[q])}” sum to {row.sum():.3f}; "
                f"top key “{plotly_text(tr.tokens[top])}” gets {row[top]:.3f}",
                xaxis=_cat_x("key"), yaxis={"title": {"text": "weight"}, "range": [0, 1]}))


def context_figure(tr: HeadTrace, q: int) -> go.Figure:
    """weight × v for every key, and their sum: the context vector [d_head]."""
    w = tr.weights[q]                                                   # [key]
    parts = w[:, None] * tr.v                                           # [key, d_head]
    rows = window(len(tr.tokens), q)
    labels = token_labels(tr.tokens)
    y = [f"{w[i]:.2f} × v({labels[i]})" for i in rows] + ["= context"]
    z = np.vstack([parts[rows], tr.context[q][None]])                   # [row + 1, d_head]
    return fast_figure(
        [{"type": "heatmap", "z": z, "y": unique_labels(y), "colorscale": "RdBu", "zmid": 0,
          "reversescale": True, "hovertemplate": "%{y}<br>number %{x}: %{z:.4f}<extra></extra>"}],
        _layout(f"Weighted sum of the values: context of “{plotly_text(tr.tokens[q])}” "
                f"= Σ weight × v ({tr.d_head} numbers)", SMALL + 40,
                xaxis={"title": {"text": "number in the head (0–%d)" % (tr.d_head - 1)}},
                yaxis={"type": "category", "autorange": "reversed"}))


def output_figure(tr: HeadTrace, q: int) -> go.Figure:
    """context @ W_O[head slice]: this head's d_model numbers for the query."""
    out = tr.output[q]                                                  # [d_model]
    return fast_figure(
        [{"type": "bar", "y": out.astype(np.float64), "marker": {"color": PLAIN},
          "hovertemplate": "number %{x}: %{y:.4f}<extra></extra>"}],
        _layout(f"W_O: {tr.d_head} → {out.shape[0]} numbers; ‖this head's output‖ = "
                f"{np.linalg.norm(out):.3f} for “{plotly_text(tr.tokens[q])}”",
                xaxis={"title": {"text": f"residual-stream number (0–{out.shape[0] - 1})"}}))


def residual_figure(tr: HeadTrace, q: int) -> go.Figure:
    """Lengths per token: what came in, this head's part, all heads (+ bias), what goes on."""
    labels = token_labels(tr.tokens)
    parts = (("residual in", tr.residual, MUTED), ("this head", tr.output, ACCENT),
             ("all heads + bias", tr.residual_after - tr.residual, PLAIN),
             ("residual after", tr.residual_after, "#1e3a8a"))
    data = [{"type": "bar", "x": labels, "y": np.linalg.norm(m, axis=-1).astype(np.float64),
             "name": name, "marker": {"color": colour},
             "hovertemplate": "%{x}<br>‖" + name + "‖ = %{y:.3f}<extra></extra>"}
            for name, m, colour in parts]
    change = np.linalg.norm(tr.residual_after[q] - tr.residual[q]) / max(np.linalg.norm(tr.residual[q]), 1e-12)
    return fast_figure(data, _layout(
        f"Added to the residual stream: the attention changes “{plotly_text(tr.tokens[q])}” by "
        f"{100 * change:.0f} % of its length", barmode="group", xaxis=_cat_x("token"),
        yaxis={"title": {"text": "length ‖·‖"}},
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"}))


def row_softmax(row: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Softmax over the visible keys of one row (masked keys get 0)."""
    z = np.where(visible, row.astype(np.float64), -np.inf)
    z = np.exp(z - z.max())
    return z / z.sum()


def entropy(p: np.ndarray) -> float:
    """Entropy in nats of one weight row (0 log 0 = 0)."""
    p = np.asarray(p, np.float64)
    return float(-(p * np.log(np.where(p > 0, p, 1.0))).sum())


# step key -> figure; the embeddings step takes an EmbeddingTrace (see glassbox_parts)
STEP_FIGURES = {"x": x_figure, "qkv": qkv_figure, "scores": scores_figure, "scale": scale_figure,
                "mask": mask_figure, "softmax": softmax_figure, "context": context_figure,
                "output": output_figure, "residual": residual_figure}
