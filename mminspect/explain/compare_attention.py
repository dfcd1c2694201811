"""How far apart two attention patterns are: Jensen–Shannon divergence per query row.

JS(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = ½ (p + q). Unlike KL it is symmetric, finite when
one side gives a key zero weight (an inserted word has no counterpart), and bounded by ln 2
(nats), reached when the two rows share no key. So 0 = the head looks at the same tokens
with the same weights, ln 2 ≈ 0.693 = it looks somewhere else entirely.
"""
from __future__ import annotations

import numpy as np

from ..types.compare import Alignment

LN2 = float(np.log(2.0))


def js_divergence(p: np.ndarray, q: np.ndarray, axis: int = -1) -> np.ndarray:
    """Jensen–Shannon divergence (nats) of distributions p and q along `axis` (each sums to 1
    there). 0 * log 0 counts as 0; the result is clipped into [0, ln 2] against rounding."""
    p = np.asarray(p, np.float64)
    q = np.asarray(q, np.float64)
    m = 0.5 * (p + q)

    def kl(x):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(x > 0, x * np.log(x / np.where(m > 0, m, 1.0)), 0.0)
        return t.sum(axis)

    return np.clip(0.5 * kl(p) + 0.5 * kl(q), 0.0, LN2)


def on_axis(weights: np.ndarray, index: np.ndarray) -> np.ndarray:
    """weights [..., query, key] laid on the aligned axis [..., pos, pos] (index: int [pos],
    -1 in gaps): a slot this side lacks gets zero weight, so each kept row still sums to 1."""
    have = np.flatnonzero(index >= 0)
    out = np.zeros((*weights.shape[:-2], len(index), len(index)), np.float64)
    out[..., have[:, None], have[None, :]] = weights[..., index[have][:, None], index[have][None, :]]
    return out


def attention_distance(wa: np.ndarray, wb: np.ndarray, al: Alignment, layer_map: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(head_js [layer, head], row_js [layer, head, pos]) between attention wa [layer, head,
    q, k] of A and wb of B, B's layer `layer_map[l]` against A's layer l. Rows are compared at
    the query slots both sides have (row_js is NaN elsewhere). When the head counts differ,
    heads cannot be paired: each layer's mean over heads is compared (one column)."""
    wb = wb[layer_map]                                                    # [layer, head_b, q, k]
    if wa.shape[1] != wb.shape[1]:
        wa, wb = wa.mean(1, keepdims=True), wb.mean(1, keepdims=True)     # [layer, 1, q, k]
    pa, pb = on_axis(wa, al.a_index), on_axis(wb, al.b_index)             # [layer, head, pos, pos]
    row = js_divergence(pa, pb).astype(np.float32)                        # [layer, head, pos]
    row[..., ~al.both] = np.nan
    head = (np.nanmean(row, -1) if al.both.any()
            else np.zeros(row.shape[:2], np.float32))                     # [layer, head]
    return head.astype(np.float32), row


def top_heads(head_js: np.ndarray, k: int = 5) -> list[tuple[int, int, float]]:
    """The k (layer, head, js) with the largest divergence, largest first (ties: lower layer)."""
    flat = np.argsort(-head_js, axis=None, kind="stable")[:k]
    return [(int(layer), int(head), float(head_js[layer, head]))
            for layer, head in zip(*np.unravel_index(flat, head_js.shape))]
