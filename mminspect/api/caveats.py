"""Plain caveats for one map: the warnings a reader should see next to it, computed from the
map's own numbers and from a sanity check (one run on this input, or the shipped table's).

    for c in mi.caveats(attr): print(c.sentence)
"""
from __future__ import annotations

from ..explain.sanity import (SAME_MAP_ABOVE, completeness_caveat, deletion_caveat,
                              gap_caveat, sanity_caveat, target_caveat)
from ..types import Caveat, PixelAttribution, SanityCheck, TokenAttribution
from .trust_shipped import shipped_verdict


def caveats(result, sanity: SanityCheck | None = None, method_label: str | None = None,
            table: dict | None = None) -> list[Caveat]:
    """The plain warnings for one map (TokenAttribution or PixelAttribution), computed from
    its own numbers; `sanity`: a check run on this model, else the shipped table's verdict
    (bundled models only)."""
    out: list[Caveat | None] = []
    f = result.faithfulness
    label = method_label or result.method
    if isinstance(result, TokenAttribution):
        complete = f is not None and f.completeness_relative is not None
        if complete:
            out.append(gap_caveat(result.target_value, result.baseline_value))
            out.append(completeness_caveat(f.completeness_relative, result.target_value,
                                           result.baseline_value))
    if f is not None:
        image = isinstance(result, PixelAttribution)
        out.append(deletion_caveat(f.deletion_area, "patches" if image else "words",
                                   "Run every method" if image else "Compare all methods",
                                   faith=f))
    modality = "image" if isinstance(result, PixelAttribution) else "text"
    if sanity is not None and sanity.method == result.method:
        out.append(sanity_caveat(label, sanity.model_name, sanity.score, sanity.threshold,
                                 "measured on this input"))
        out.append(target_caveat(label, sanity.data_score, sanity.data_threshold or SAME_MAP_ABOVE,
                                 f"{sanity.data_target}, on this input", modality))
    else:
        verdict = shipped_verdict(result.model_name, result.method, table)
        if verdict is not None:
            source = (f"mean of {verdict.get('n', '?')} inputs in the shipped table"
                      + ("" if verdict["current"] else ", measured on older code"))
            out.append(sanity_caveat(label, result.model_name, verdict["score"],
                                     verdict["threshold"], source))
            out.append(target_caveat(label, verdict["data_score"], verdict["data_threshold"],
                                     source, modality))
    return [c for c in out if c is not None]
