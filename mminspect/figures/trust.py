"""Can I trust this map? The sanity-check curves, the method-agreement matrix, the caveat
badges and the shipped sanity table. Result values in, plotly figures and HTML out."""
from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..types import Caveat, MethodAgreement, SanityCheck
from .layout import plotly_text

COLOURS = ("#b2182b", "#2166ac", "#1b7837", "#762a83", "#e08214", "#35978f", "#8c510a",
           "#4d4d4d")


def _label(labels: dict | None, name: str) -> str:
    return (labels or {}).get(name, name)


def sanity_figure(checks: list[SanityCheck], labels: dict[str, str] | None = None) -> go.Figure:
    """One line per method: the larger of the signed and |scores| rank correlations with the
    trained map, as blocks are re-initialised from the top down. The shaded zone is where
    the verdict is read (top half random or more); the dashed line is the threshold."""
    fig = go.Figure()
    if not checks:
        fig.update_layout(title="No sanity check run yet", height=320)
        return fig
    n = int(checks[0].n_random[-1])
    half = int(checks[0].n_random[checks[0].half])
    fig.add_vrect(x0=half - 0.5, x1=n + 0.5, fillcolor="#999", opacity=0.12, line_width=0)
    fig.add_hline(y=checks[0].threshold, line=dict(color="#555", dash="dash"),
                  annotation_text=f"pass below {checks[0].threshold:g}",
                  annotation_position="top left")
    for i, c in enumerate(checks):
        worst = np.maximum(c.spearman, c.spearman_abs)                  # [step]
        same = " · same map for a random target" if c.target_ignored else ""
        name = f"{plotly_text(_label(labels, c.method))}: {'pass' if c.passed else 'FAIL'}{same}"
        fig.add_trace(go.Scatter(
            x=c.n_random.tolist(), y=worst.tolist(), mode="lines+markers", name=name,
            line=dict(color=COLOURS[i % len(COLOURS)], dash="solid" if c.passed else "dot"),
            customdata=np.stack([c.spearman, c.spearman_abs], 1).tolist(),
            hovertemplate="%{x} blocks random<br>ρ signed %{customdata[0]:.2f}, "
                          "ρ |scores| %{customdata[1]:.2f}<extra>" + name + "</extra>"))
    fig.update_xaxes(title_text=f"blocks re-initialised, top first (of {n})", dtick=1,
                     range=[-0.3, n + 0.3])
    fig.update_yaxes(title_text="rank correlation with the trained map", range=[-1.05, 1.05])
    fig.update_layout(title="Sanity check: does the map change when the model is random?",
                      height=400, margin=dict(l=10, r=10, t=60, b=90), showlegend=True,
                      legend=dict(orientation="h", y=-0.3))
    return fig


def agreement_figure(agreement: MethodAgreement, labels: dict[str, str] | None = None) -> go.Figure:
    """Two heatmaps, one above the other: Spearman between methods' signed maps (top) and
    their |scores| (bottom). Columns are headed by the rows' numbers and the two grids are
    stacked: side by side, with the method names on both axes, the headers overlapped on a
    laptop and ran into each other on a phone."""
    names = [plotly_text(_label(labels, m)) for m in agreement.methods]
    rows = [f"{n} ({i})" for i, n in enumerate(names, 1)]
    cols = [str(i) for i in range(1, len(names) + 1)]
    fig = make_subplots(rows=2, cols=1, vertical_spacing=0.12, subplot_titles=(
        "signed scores", "|scores| (what stands out)"))
    for row, m in ((1, agreement.matrix), (2, agreement.matrix_abs)):
        fig.add_trace(go.Heatmap(z=m.tolist(), x=cols, y=rows, zmin=-1, zmax=1,
                                 colorscale="RdBu", reversescale=True, showscale=row == 1,
                                 text=[[f"{v:.2f}" for v in r] for r in m],
                                 texttemplate="%{text}", customdata=[names] * len(names),
                                 hovertemplate="%{y} vs %{customdata}: %{z:.2f}"
                                 "<extra></extra>"), row=row, col=1)
        fig.update_yaxes(autorange="reversed", row=row, col=1)
    fig.update_xaxes(tickmode="array", tickvals=cols)      # every number, none skipped
    fig.update_layout(title=f"Where methods agree<br><sup>rank correlation over "
                            f"{agreement.n_features} features</sup>",
                      height=2 * (30 * len(names) + 70) + 90,
                      margin=dict(l=10, r=10, t=90, b=10))
    return fig


def caveats_html(caveats: list[Caveat]) -> str:
    """One line of badges next to a map: each caveat's short title, its why and what to try
    on hover (title) and under a closed "why?" (phones have no hover). A wall of paragraphs,
    one per caveat, buried the maps they are about."""
    if not caveats:
        return ("<div class='mm-caveats' style='font-size:0.9em;color:#1b7837'>"
                "✓ No caveat from this map's own numbers.</div>")
    badges = " ".join(
        f"<span data-caveat='{html.escape(c.code, quote=True)}' "
        f"title=\"{html.escape(f'{c.why} {c.instead}', quote=True)}\" style='background:#fde0c5;"
        "color:#7f3b08;border-radius:10px;padding:1px 8px;font-weight:600;font-size:0.9em;"
        f"display:inline-block;line-height:1.4;margin:1px 0'>⚠ {html.escape(c.title)}</span>" for c in caveats)
    why = "".join(f"<li><b>{html.escape(c.title)}</b>: {html.escape(c.why)} "
                  f"<i>{html.escape(c.instead)}</i></li>" for c in caveats)
    return (f"<div class='mm-caveats' style='margin:4px 0;line-height:1.9'>{badges} "
            "<details style='display:inline'><summary style='display:inline;cursor:pointer;"
            "font-size:0.85em;color:#555'>why?</summary><ul style='font-size:0.85em;"
            f"margin:4px 0'>{why}</ul></details></div>")


def sanity_table_html(table: dict | None, labels: dict[str, dict[str, str]] | None = None) -> str:
    """The shipped table (lab/sanity_table.py), one row per model and method.
    labels: {"text": {method: label}, "image": {...}}, by the modality the table gives each
    model (text and image methods share some identifiers)."""
    if not table:
        return "<p><i>No shipped sanity table (run python -m mminspect.lab.sanity_table).</i></p>"
    rows = []
    same = table.get("data_threshold", 0.9)
    for model, methods in table.get("results", {}).items():
        names = (labels or {}).get(table.get("modality", {}).get(model, "text"), {})
        for m, r in methods.items():
            ok = "pass" if r["passed"] else "<b style='color:#b2182b'>fail</b>"
            d = r.get("data_score", r.get("data_spearman"))
            data = "–" if d is None else f"{d:+.2f}" + (
                " <b style='color:#b2182b'>ignores it</b>" if d >= same else "")
            rows.append(f"<tr><td>{html.escape(model)}</td><td>{html.escape(_label(names, m))}"
                        f"</td><td>{r['score']:.3f}</td><td>{ok} ({r['passed_inputs']}/{r['n']})"
                        f"</td><td>{data}</td></tr>")
    stale = ("" if table.get("current", True) else
             "<p class='mm-sanity-stale' style='color:#7f3b08'>⚠️ <b>Stale</b>: "
             f"{html.escape(table.get('stale_reason') or 'measured on other code or weights')}"
             ".</p>")
    return (stale + "<table style='border-collapse:collapse' cellpadding='4'><tr><th>model</th>"
            "<th>method</th><th>score</th><th>verdict (inputs passing)</th>"
            "<th>ρ, random target</th></tr>" + "".join(rows) + "</table>"
            f"<p style='font-size:0.85em'>Pass: score &lt; {table.get('threshold', 0.5):g}; "
            f"a random target at ρ ≥ {same:g} leaves the map as it was (it ignores the target). "
            f"{html.escape(table.get('command', ''))} · {html.escape(table.get('date', ''))}</p>")


def _cell(v: float) -> str:
    a = min(abs(float(v)), 1.0)
    r, g, b = (178, 24, 43) if v >= 0 else (33, 102, 172)
    fg = "#fff" if a > 0.6 else "#111"
    return (f"<div style='background:rgba({r},{g},{b},{a:.2f});color:{fg};text-align:center;"
            f"padding:3px'>{v:+.2f}</div>")


def agreement_html(agreement: MethodAgreement, labels: dict[str, str] | None = None,
                   absolute: bool = True) -> str:
    """The agreement matrix as an HTML grid (for panels that have no plot to spare; a CSS
    grid, not a <table>, so it never adds rows to a table it is placed under): |scores| by
    default, since image maps mix signed and unsigned methods. Columns are headed by the
    rows' numbers: twelve long method names side by side overlapped (and on a phone, ran
    off the screen); each number's name is on its row and on hover."""
    m = agreement.matrix_abs if absolute else agreement.matrix
    names = [html.escape(_label(labels, x)) for x in agreement.methods]
    small = "font-size:0.8em;padding:3px"
    cells = [f"<div style='{small}'></div>"] + [
        f"<div title='{n}' style='{small};font-weight:600;text-align:center'>{i}</div>"
        for i, n in enumerate(names, 1)]
    for i, (n, row) in enumerate(zip(names, m), 1):
        cells.append(f"<div style='{small};text-align:right;font-weight:600;overflow-wrap:"
                     f"anywhere'>{n} <span style='color:#666'>{i}</span></div>")
        cells += [_cell(v) for v in row]
    what = "|scores|" if absolute else "signed scores"
    return (f"<p><b>Where methods agree</b>: rank correlation (Spearman) of {what} over "
            f"{agreement.n_features} features; 1 = same ranking. Columns: the rows' numbers.</p>"
            f"<div style='overflow-x:auto'><div class='mm-agreement' style='display:grid;"
            f"grid-template-columns:minmax(8em, 16em) repeat({len(names)}, minmax(2.6em, 1fr));"
            "gap:2px;max-width:60em'>" + "".join(cells) + "</div></div>")
