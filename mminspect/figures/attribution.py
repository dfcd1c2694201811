"""Attribution figures: colour-highlighted text with its legend, the top tokens, the
deletion/insertion curves and the method comparison. Attribution results in, HTML strings
and plotly figures out.

Our own HTML rather than captum's `visualize_text` (which prints, and had an escaping bug):
every piece of user text goes through `html.escape`.
"""
from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..types import AttributionComparison, Faithfulness, TokenAttribution
from .layout import plotly_text

POSITIVE = (178, 24, 43)     # red: raises the target (RdBu's ends, readable for most colour vision)
NEGATIVE = (33, 102, 172)    # blue: lowers it
SPECIAL_STYLE = "color:#888;border:1px dashed #bbb;"


def color_scale(scores: np.ndarray, special: np.ndarray) -> float:
    """Symmetric colour range: the largest |score| outside special tokens (whose scores, e.g.
    Input × Gradient on [CLS], would wash out the rest); 1 when everything is 0."""
    shown = np.abs(np.asarray(scores)[~np.asarray(special, bool)])
    top = float(shown.max()) if shown.size else 0.0
    return top if top > 0 else 1.0


def _background(value: float, scale: float) -> tuple[str, str]:
    """(background css colour, text colour) for a score on the diverging scale."""
    v = float(np.clip(value / scale, -1, 1))
    r, g, b = POSITIVE if v >= 0 else NEGATIVE
    text = "#fff" if abs(v) > 0.6 else "#111"
    return f"rgba({r},{g},{b},{abs(v):.3f})", text


def _span(label: str, value: float, scale: float, special: bool = False) -> str:
    tip = html.escape(f"{label.strip() or repr(label)}: {value:+.4g}", quote=True)
    body = html.escape(label)
    if special:
        return f'<span title="{tip}" style="{SPECIAL_STYLE}padding:1px 3px;border-radius:3px">{body}</span>'
    bg, fg = _background(value, scale)
    return (f'<span title="{tip}" style="background:{bg};color:{fg};padding:1px 2px;'
            f'border-radius:3px">{body}</span>')


def highlight_html(attr: TokenAttribution, level: str = "word", scale: float | None = None,
                   show_legend: bool = True) -> str:
    """The text with each word (or token) coloured by its score; hover for the number.

    Word view keeps the text's own spacing and punctuation (words are sliced from it by
    their offsets); token view shows the pieces the model saw, special tokens dashed.
    """
    labels, scores, special = attr.view(level)
    scale = scale or color_scale(scores, special)
    if level == "word":
        parts, pos = [], 0
        for (a, b), label, value in zip(attr.word_offsets, labels, scores):
            parts.append(html.escape(attr.text[pos:a]))
            parts.append(_span(label, float(value), scale))
            pos = b
        parts.append(html.escape(attr.text[pos:]) if pos < len(attr.text) else "")
        body = "".join(parts)
    else:
        body = " ".join(_span(t, float(v), scale, bool(s)) for t, v, s in zip(labels, scores, special))
    text = (f'<div style="line-height:2.1;font-size:1.05em;white-space:pre-wrap">{body}</div>')
    return text + (legend_html(scale) if show_legend else "")


def legend_html(scale: float) -> str:
    """A colour bar from -scale (blue, lowers the target) to +scale (red, raises it)."""
    neg = "rgb({},{},{})".format(*NEGATIVE)
    pos = "rgb({},{},{})".format(*POSITIVE)
    return (
        '<div style="display:flex;align-items:center;gap:6px;font-size:0.85em;margin-top:6px">'
        f'<span>−{scale:.3g} lowers</span>'
        f'<span style="display:inline-block;width:180px;height:12px;border:1px solid #ccc;'
        f'background:linear-gradient(to right,{neg},#fff,{pos})"></span>'
        f'<span>+{scale:.3g} raises the target</span></div>')


def top_tokens_bar(attr: TokenAttribution, level: str = "word", k: int = 15,
                   method: str | None = None) -> go.Figure:
    """The k words (tokens) with the largest |score|, largest at the top, coloured by sign.
    method: the method's name as people read it (default: the library's identifier)."""
    labels, scores, special = attr.view(level)
    idx = np.flatnonzero(~special)
    idx = idx[np.argsort(-np.abs(scores[idx]), kind="stable")][:k][::-1]   # largest last = top
    # Repeated words get their position so bars do not merge.
    names = [f"{plotly_text(labels[i])} ({i})" for i in idx]
    colors = ["rgb({},{},{})".format(*(POSITIVE if scores[i] >= 0 else NEGATIVE)) for i in idx]
    fig = go.Figure(go.Bar(x=[float(scores[i]) for i in idx], y=names, orientation="h",
                           marker_color=colors,
                           hovertemplate="%{y}: %{x:+.4g}<extra></extra>"))
    fig.update_layout(title=f"Top {len(idx)} {level}s by |score| · {method or attr.method}",
                      xaxis_title=f"score (effect on {attr.target})"[:90],
                      height=max(260, 28 * len(idx) + 110), margin=dict(l=10, r=10, t=50, b=40))
    return fig


def faithfulness_figure(faith: Faithfulness | None, title: str = "") -> go.Figure:
    """Deletion (left) and insertion (right) curves: attribution order vs random order."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "Deletion: remove top tokens first (lower = better)",
        "Insertion: add top tokens first (higher = better)"))
    if faith is None:
        fig.update_layout(title="Faithfulness not computed", height=320)
        return fig
    x = (faith.fractions * 100).tolist()
    series = [(1, faith.deletion, faith.deletion_random), (2, faith.insertion, faith.insertion_random)]
    for col, ours, rand in series:
        fig.add_trace(go.Scatter(x=x, y=rand.tolist(), name="random order", mode="lines",
                                 line=dict(color="#999", dash="dash"), showlegend=col == 1,
                                 legendgroup="random"), row=1, col=col)
        fig.add_trace(go.Scatter(x=x, y=ours.tolist(), name="attribution order",
                                 mode="lines+markers", line=dict(color="rgb({},{},{})".format(*POSITIVE)),
                                 fill="tonexty", fillcolor="rgba(178,24,43,0.12)",
                                 showlegend=col == 1, legendgroup="ours"), row=1, col=col)
        fig.update_xaxes(title_text="% of tokens removed" if col == 1 else "% of tokens added",
                         row=1, col=col)
    fig.update_yaxes(title_text="target", row=1, col=1)
    head = (f"deletion area {faith.deletion_area:+.3f} · insertion area {faith.insertion_area:+.3f}"
            f" · mean {faith.area:+.3f}")
    fig.update_layout(title=(title + " · " if title else "") + head, height=360,
                      margin=dict(l=10, r=10, t=80, b=40), legend=dict(orientation="h", y=-0.25))
    return fig


def _fmt(value: float | None, pattern: str) -> str:
    return "–" if value is None else pattern.format(value)


def _caveat_cell(caveats) -> str:
    """The caveat titles of one row, each with its why and what-instead on hover."""
    if not caveats:
        return "<td>–</td>"
    items = "<br>".join(
        f"<span data-caveat='{html.escape(c.code, quote=True)}' "
        f"title=\"{html.escape(c.why + ' ' + c.instead, quote=True)}\" style='background:"
        f"#fde0c5;color:#7f3b08;border-radius:8px;padding:0 6px;font-size:0.85em'>"
        f"⚠ {html.escape(c.title)}</span>" for c in caveats)
    return f"<td>{items}</td>"


def comparison_html(comparison: AttributionComparison, level: str = "word",
                    labels: dict[str, str] | None = None, caveats: dict | None = None) -> str:
    """One row per method: its numbers, then its map (each on its own colour scale, since
    methods' units differ; the legend of each row gives the range).
    labels: method identifier -> the name people read (default: the identifier).
    caveats: method identifier -> its `Caveat`s (api.caveats): an extra column when given."""
    head = ("<tr><th>method</th><th>time</th><th>IG steps</th><th>completeness error</th>"
            "<th>deletion area</th><th>insertion area</th>"
            + ("<th>caveats</th>" if caveats is not None else "")
            + "<th>map (red raises, blue lowers)</th></tr>")
    rows = []
    for r in comparison.results:
        f = r.faithfulness
        _, scores, special = r.view(level)
        scale = color_scale(scores, special)
        rel = f.completeness_relative if f else None
        rows.append(
            "<tr>"
            f"<td><b>{html.escape((labels or {}).get(r.method, r.method))}</b></td>"
            f"<td>{r.seconds:.2f} s</td>"
            f"<td>{_fmt(r.n_steps, '{}')}</td><td>{_fmt(rel, '{:.2%}')}</td>"
            f"<td>{_fmt(f.deletion_area if f else None, '{:+.3f}')}</td>"
            f"<td>{_fmt(f.insertion_area if f else None, '{:+.3f}')}</td>"
            + (_caveat_cell(caveats.get(r.method)) if caveats is not None else "")
            + f"<td>{highlight_html(r, level, scale, show_legend=False)}"
            f"<div style='font-size:0.8em;color:#666'>scale ±{scale:.3g}</div></td></tr>")
    # on a phone the table scrolls sideways: squeezed to the screen, its map column was a
    # word wide and every row a screen tall
    return ('<div style="overflow-x:auto"><table style="border-collapse:collapse;width:100%;'
            f'min-width:900px" cellpadding="6">{head}{"".join(rows)}</table></div>'
            f"<p style='font-size:0.85em'>All {len(comparison.results)} methods in "
            f"{comparison.seconds:.2f} s (including the faithfulness curves).</p>"
            + _notes_html(comparison, labels))


def _notes_html(comparison: AttributionComparison, labels: dict[str, str] | None) -> str:
    """Each distinct note once, with the methods it applies to (a budget reduction, reduced
    precision): said on screen, not only in the saved numbers."""
    by_note: dict[str, list[str]] = {}
    for r in comparison.results:
        for n in r.notes:
            by_note.setdefault(n, []).append((labels or {}).get(r.method, r.method))
    if not by_note:
        return ""
    notes = "".join(
        f"<p class='mm-note' style='font-size:0.85em'>{'⚠️' if 'budget' in n else 'ℹ️'} "
        f"<b>{html.escape(', '.join(who))}</b>: {html.escape(n)}</p>"
        for n, who in by_note.items())
    # internals (precision, time budget) behind a toggle: a wall of them hid the table
    cut = any("budget" in n for n in by_note)
    return ("<details class='mm-notes'><summary style='cursor:pointer;font-size:0.9em'>"
            + ("⚠️ Some maps are less exact than asked (time budget). " if cut else "")
            + f"Details: precision and time budget ({len(by_note)} "
            f"note{'s' if len(by_note) > 1 else ''})</summary>{notes}</details>")
