"""The measure behind the minimal-pair lesson: insert one word, and find whose attention
changes most. Registered in lesson_measures.MEASURES as "changed_rows"; the lesson gives text
A as `text` and text B as `compare_to`."""
from __future__ import annotations

import numpy as np

from ..explain import head_summary
from .compare_pairs import compare_texts
from .lesson_types import LessonError, LessonState, Measured

ROW_PLACES = ("the word right after the change", "the word right before the change",
              "a word further away", "a special token ([CLS]/[SEP])")


def _place(diff, slot: int) -> str:
    """Where aligned slot `slot` sits relative to the edited slots (ROW_PLACES)."""
    al = diff.alignment
    if diff.a.attention.special[al.a_index[slot]]:
        return ROW_PLACES[3]
    edits = [i for i, op in enumerate(al.ops) if op != "same"]
    if any(slot == e + 1 for e in edits):
        return ROW_PLACES[0]
    if any(slot == e - 1 for e in edits):
        return ROW_PLACES[1]
    return ROW_PLACES[2]


def changed_rows(adapter, st: LessonState) -> Measured:
    """Compare text A (`text`) with text B (`compare_to`) on one model: the token whose
    attention row moved most (Jensen–Shannon, averaged over every layer and head), and the
    two heads that changed most, with what they did in A."""
    if not st.compare_to:
        raise LessonError("The lesson needs text B in [state] compare_to.")
    diff = compare_texts(adapter, st.text, st.compare_to)
    al = diff.alignment
    both = np.flatnonzero(al.both)
    per_row = diff.row_js[..., both].astype(np.float64).mean((0, 1))      # [slot with both]
    slot = int(both[np.argmax(per_row)])
    labels = al.labels
    s = head_summary(diff.a.attention)
    heads = []
    for layer, head, js in diff.top_heads[:2]:
        prev, special = s.previous[layer, head], s.special[layer, head]
        what = ("a previous-token head" if prev >= 0.5 else
                "a head parked on [CLS]/[SEP]" if special >= 0.5 else "a head that reads content")
        heads.append(f"layer {layer}, head {head} ({js:.3f} nats; in A {what}: "
                     f"{100 * prev:.0f} % to the previous token, {100 * special:.0f} % to [CLS]/[SEP])")
    text = (f"Averaged over all {diff.head_js.size} heads, the row of “{labels[slot]}” moved most "
            f"(Jensen–Shannon {per_row.max():.3f} nats; the mean over the other rows is "
            f"{np.delete(per_row, np.argmax(per_row)).mean():.3f}). The heads that changed most: "
            + "; ".join(heads) + ".")
    return Measured(answer=_place(diff, slot), value=float(per_row.max()), text=text, choices=(),
                    evidence={"tokens": [labels[i] for i in both], "title":
                              "How much each token's attention changed (A → B, all heads)",
                              "series": {"Jensen–Shannon of its row (mean over heads)": per_row}})
