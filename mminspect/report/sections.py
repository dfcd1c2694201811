"""What a report shows for each kind of result: (heading, caption, figure or HTML) triples.

Every user string is escaped here or by the figure functions (plotly_text / html.escape)."""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from .. import api
from ..figures import head_summary_figure, hidden_norms_figure, model_view
from ..figures.attribution import comparison_html, faithfulness_figure, highlight_html, top_tokens_bar
from ..figures.clip import overlay, prediction_steps_figure, upscale
from ..figures import glassbox
from ..types import (AttributionComparison, ClipView, HeadTrace, PixelAttribution, TextView,
                     TokenAttribution)


@dataclass(frozen=True)
class Section:
    heading: str
    caption: str
    figure: go.Figure | None = None
    html: str = ""                       # trusted markup built here (user text escaped)


def png_tag(image: np.ndarray, alt: str) -> str:
    """uint8 [H, W, 3] as an <img> with a data URI (no file next to the report)."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="PNG", optimize=True)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt, quote=True)}" src="data:image/png;base64,{data}">'


def table(rows: list[tuple[str, str]]) -> str:
    """Two-column facts; both columns escaped."""
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def _fmt(x, pattern: str = "{:.4g}") -> str:
    return "—" if x is None else pattern.format(x)


def prediction_rows(view: TextView) -> list[tuple[str, str]]:
    p = view.prediction
    rows = [("prediction kind", p.kind)]
    if p.similarity is not None:
        rows.append((f"cosine similarity to “{p.compare_to}”", f"{p.similarity:.4f}"))
    for label, prob in zip(p.labels, p.label_probs):
        rows.append((f"P(label “{label}”)", f"{prob:.1%}"))
    for fill in p.fills:
        rows.append((f"top fillers at position {fill.position}",
                     ", ".join(f"{t} {pr:.1%}" for t, pr in zip(fill.tokens, fill.probs))))
    if p.continuation:
        rows.append(("continuation", p.continuation))
    return rows


def text_view(view: TextView) -> list[Section]:
    return [
        Section("Prediction", "What the model outputs for this text.",
                html=table(prediction_rows(view) + [("tokens", str(len(view.attention.tokens)))]
                           + [("note", n) for n in view.notes])),
        Section("Attention, every layer and head",
                "One small map per head: rows are the token that looks (query), columns the "
                "token looked at (key); each row sums to 1.", model_view(view.attention)),
        Section("Head summary", "Per head: the entropy of its rows (low = focused) and where "
                "its attention goes on average.", head_summary_figure(api.head_summary(view.attention))),
        Section("Residual stream norms", "The length of each token's vector after each layer.",
                hidden_norms_figure(view)),
    ]


def faithfulness_rows(attr: TokenAttribution) -> list[tuple[str, str]]:
    f = attr.faithfulness
    rows = [("method", attr.method), ("target", attr.target),
            ("target value f(text)", f"{attr.target_value:.4g}"),
            ("baseline", attr.baseline), ("f(baseline)", f"{attr.baseline_value:.4g}"),
            ("seconds", f"{attr.seconds:.2f}")]
    rows += [(f"parameter {k}", str(v)) for k, v in attr.params.items()]
    if attr.n_steps is not None:
        rows.append(("integration steps", str(attr.n_steps)))
    if f is not None:
        rows += [("completeness error |Σ scores − (f(text) − f(baseline))|", _fmt(f.completeness_error)),
                 ("completeness error, relative", _fmt(f.completeness_relative, "{:.2%}")),
                 ("deletion area (lower = more faithful)", _fmt(f.deletion_area)),
                 ("insertion area (higher = more faithful)", _fmt(f.insertion_area))]
    return rows + [("note", n) for n in attr.notes]


def attribution(attr: TokenAttribution) -> list[Section]:
    out = [Section("Which words push the target", "Red raises the target, blue lowers it; "
                   "hover a word for its score.", html=highlight_html(attr)),
           Section("Numbers", "How far to trust this map.", html=table(faithfulness_rows(attr))),
           Section("Largest scores", "", top_tokens_bar(attr))]
    if attr.faithfulness is not None:
        out.append(Section("Deletion and insertion", "Removing (adding) the top-scored words "
                           "first should change the target faster than a random order.",
                           faithfulness_figure(attr.faithfulness)))
    return out


def comparison(comp: AttributionComparison) -> list[Section]:
    out = [Section("Every method side by side", f"{len(comp.results)} methods, "
                   f"{comp.seconds:.1f} s in all.", html=comparison_html(comp))]
    for attr in comp.results:
        out.append(Section(f"{attr.method}: numbers", "", html=table(faithfulness_rows(attr))))
    return out


def clip_view(view: ClipView) -> list[Section]:
    rows = [(f"P(“{p}”)", f"{pr:.1%}") for p, pr in zip(view.prompts, view.probs[0])]
    out = [Section("The image as the model sees it", f"{view.images.shape[2]}×"
                   f"{view.images.shape[1]} px, {view.grid_rows}×{view.grid_cols} patches.",
                   html=png_tag(upscale(view.images[0]), "input image")),
           Section("How the label is picked", f"Cosine of the image and each prompt → "
                   f"{view.chain.removeprefix('cosine → ')}.", prediction_steps_figure(view)),
           Section("Probabilities", "", html=table(rows + [("note", n) for n in view.notes]))]
    if view.maps is not None:
        # as in the app: best match first and starred, each map on its own scale (on one
        # shared scale a losing prompt's map can outshine the winner's: relevance follows the
        # gradient of each prompt's score, not the score)
        prob = dict(zip(view.prompts, view.probs[0]))
        pairs = sorted(zip(view.maps.prompts, view.maps.maps), key=lambda pm: -prob.get(pm[0], 0))
        tags = "".join(f"<figure>{png_tag(overlay(m.image, m.scores), p)}"
                       f"<figcaption>{'★ ' if k == 0 else ''}{html.escape(p)} · p = "
                       f"{prob.get(p, float('nan')):.2f}</figcaption></figure>"
                       for k, (p, m) in enumerate(pairs))
        out.append(Section("Relevance maps", "Which patches carried each prompt's match, the "
                           "best match first. Each map is on its own scale (its peak is on its "
                           "colour bar): it shows where that prompt's evidence lies, not how "
                           "strong it is.", html=f'<div class="row">{tags}</div>'))
    return out


def pixel_attribution(pix: PixelAttribution) -> list[Section]:
    signed = bool((pix.scores < 0).any())
    rows = [("method", pix.method), ("prompt", pix.prompt), ("target", pix.target),
            ("target value", f"{pix.target_value:.4g}"), ("seconds", f"{pix.seconds:.2f}")]
    if pix.contrast:
        rows.append(("rather than", pix.contrast))
    if pix.convergence_delta is not None:
        rows.append(("completeness error", f"{pix.convergence_delta:.4g}"))
    if pix.faithfulness is not None:
        rows += [("deletion area", _fmt(pix.faithfulness.deletion_area)),
                 ("insertion area", _fmt(pix.faithfulness.insertion_area))]
    if pix.pointing_hit is not None:
        rows.append(("peak on the object", "yes" if pix.pointing_hit else "no"))
    return [Section("Map over the image", "Red: pushes the match up" + (", blue: down" if signed
                    else "") + ".", html=png_tag(overlay(pix.image, pix.scores, signed=signed),
                                                 "attribution map")),
            Section("Numbers", "", html=table(rows + [("note", n) for n in pix.notes]))]


TRACE_STEPS = [("x: the attention's input", glassbox.x_figure),
               ("q, k, v: three projections of x", glassbox.qkv_figure),
               ("q · k for every key", glassbox.scores_figure),
               ("÷ √d", glassbox.scale_figure), ("The mask", glassbox.mask_figure),
               ("Softmax: the attention weights", glassbox.softmax_figure),
               ("Weights · v: the head's context", glassbox.context_figure),
               ("× W_O: the head's output", glassbox.output_figure),
               ("Added to the residual stream", glassbox.residual_figure)]


def head_trace(tr: HeadTrace, query: int | None = None) -> list[Section]:
    """One head step by step, for one query token (default: the first after [CLS])."""
    q = query if query is not None else (1 if len(tr.tokens) > 2 else 0)
    facts = [("layer, head", f"{tr.layer}, {tr.head} of {tr.n_heads}"), ("tower", tr.tower),
             ("query token", f"{q}: {tr.tokens[q]}"), ("scale", f"{tr.scale:.6g}"),
             ("max error against the model's own computation", f"{tr.max_error:.2g}")]
    return [Section("The head", "Every step below is computed from the model's real weights "
                    "and checked against its own attention.", html=table(facts))] + [
        Section(title, "", fn(tr, q)) for title, fn in TRACE_STEPS]


SECTIONS = {HeadTrace: head_trace, TextView: text_view, TokenAttribution: attribution, AttributionComparison: comparison,
            ClipView: clip_view, PixelAttribution: pixel_attribution}
