"""The report of a comparison (`mi.report(mi.compare(a, b), "diff.html")`): both sides'
inputs and models, what changed, and the figures the app shows, A and B side by side."""
from __future__ import annotations

from ..figures.compare import (compare_head_figure, head_change_figure, patch_change_figure,
                               word_change_figure)
from ..types import ClipView, TextView
from ..types.compare import Comparison
from .sections import Section, table


def _input(side) -> str:
    if isinstance(side, ClipView):
        return f"image ({side.images.shape[2]}×{side.images.shape[1]} px), prompts {side.prompts}"
    return side.text if isinstance(side, TextView) else f"{side.text} (target: {side.target})"


def comparison_sections(diff: Comparison) -> list[Section]:
    al = diff.alignment
    rows = [("A: model", diff.a.model_name), ("A: input", _input(diff.a)),
            ("B: model", diff.b.model_name), ("B: input", _input(diff.b)),
            ("aligned", " ".join(al.labels)), ("edits", str(al.n_edits))]
    rows += [("prediction", p) for p in diff.prediction] + [("note", n) for n in diff.notes]
    rows += [(f"most changed head #{i + 1}", f"layer {layer}, head {head}: {js:.4f} nats")
             for i, (layer, head, js) in enumerate(diff.top_heads)]
    out = [Section("A and B", "What was compared and what changed (Jensen–Shannon divergence in "
                   "nats: 0 = the same attention, ln 2 ≈ 0.693 = no key in common).",
                   html=table([(k, str(v)) for k, v in rows]))]        # table() escapes
    if diff.kind == "attribution":
        out.append(Section("Attribution per aligned word", "Top: A and B on one scale; bottom: "
                           "A − B for the words both texts have.", word_change_figure(diff)))
    if diff.head_js is not None and diff.top_heads:
        layer, head, _ = diff.top_heads[0]
        out += [Section("How much every head changed", "", head_change_figure(diff)),
                Section("The head that changed most", "A and B on one colour scale, A − B on "
                        "its own.", compare_head_figure(diff, layer, head))]
    if diff.patch_a is not None:
        top = int(diff.a.probs[0].argmax())
        out.append(Section("Relevance per patch", "Each map divided by its own largest value.",
                           patch_change_figure(diff, top)))
    return out
