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
CHUNK = 65_536          # numbers per array in one step of attention_distance


def js_divergence(p: np.ndarray, q: np.ndarray, axis: int = -1) -> np.ndarray:
    """Jensen–Shannon divergence (nats) of distributions p and q along `axis` (each sums to 1
    there). 0 * log 0 counts as 0; the result is clipped into [0, ln 2] against rounding."""
    p = np.asarray(p, np.float64)
    q = np.asarray(q, np.float64)
    # JS = H(m) - (H(p) + H(q)) / 2 with H the entropy: three logarithms, no division
    return np.clip(_neg_entropy(p, axis) / 2 + _neg_entropy(q, axis) / 2
                   - _neg_entropy(0.5 * (p + q), axis), 0.0, LN2)


def _neg_entropy(x: np.ndarray, axis: int) -> np.ndarray:
    """sum of x log x along `axis`, with 0 log 0 = 0."""
    # log of at least the smallest float: 0 · log(tiny) = 0 exactly, without a masked log
    return (x * np.log(np.maximum(x, np.finfo(x.dtype).tiny))).sum(axis)


def on_axis_keys(rows: np.ndarray, index: np.ndarray) -> np.ndarray:
    """rows [..., row, key] with their keys laid on the aligned axis [..., row, pos]."""
    n = rows.shape[-1]
    if len(index) == n and np.array_equal(index, np.arange(n)):
        return rows                  # this side has every slot, in order (no copy: read-only use)
    padded = np.concatenate([rows, np.zeros((*rows.shape[:-1], 1), rows.dtype)], -1)
    return np.take(padded, np.where(index >= 0, index, n), axis=-1)


def attention_distance(wa: np.ndarray, wb: np.ndarray, al: Alignment, layer_map: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(head_js [layer, head], row_js [layer, head, pos]) between attention wa [layer, head,
    q, k] of A and wb of B, B's layer `layer_map[l]` against A's layer l. Rows are compared at
    the query slots both sides have (row_js is NaN elsewhere). When the head counts differ,
    heads cannot be paired: each layer's mean over heads is compared (one column)."""
    wb = wb[layer_map]                                                    # [layer, head_b, q, k]
    if wa.shape[1] != wb.shape[1]:
        wa, wb = wa.mean(1, keepdims=True), wb.mean(1, keepdims=True)     # [layer, 1, q, k]
    both = al.both                                                        # [pos]
    # JS = ½ Σ p log p + ½ Σ q log q − Σ m log m: the first two do not depend on the aligned
    # axis (a zero adds nothing), so only m is laid on it, and only for the rows both sides have
    qa, qb = al.a_index[both], al.b_index[both]                           # [row] each
    row = np.full((*wa.shape[:2], len(al.ops)), np.nan, np.float32)       # [layer, head, pos]
    # a few heads at a time (about 64k numbers per array): the arrays stay in the CPU cache,
    # which made 256-token texts ~5x faster than whole layers (measured)
    step = max(1, CHUNK // max(1, len(qa) * len(al.ops)))
    for layer in range(len(wa)):
        for h in range(0, wa.shape[1], step):
            ra = np.take(wa[layer, h:h + step], qa, axis=-2).astype(np.float64)  # [head, row, k_a]
            rb = np.take(wb[layer, h:h + step], qb, axis=-2).astype(np.float64)  # [head, row, k_b]
            m = np.add(on_axis_keys(ra, al.a_index), on_axis_keys(rb, al.b_index))  # [.., pos]
            m *= 0.5                                     # in place: m is a new array
            js = 0.5 * _neg_entropy(ra, -1) + 0.5 * _neg_entropy(rb, -1) - _neg_entropy(m, -1)
            row[layer, h:h + step][:, both] = np.clip(js, 0.0, LN2)
    head = (np.nanmean(row, -1) if al.both.any()
            else np.zeros(row.shape[:2], np.float32))                     # [layer, head]
    return head.astype(np.float32), row


def top_heads(head_js: np.ndarray, k: int = 5) -> list[tuple[int, int, float]]:
    """The k (layer, head, js) with the largest divergence, largest first (ties: lower layer)."""
    flat = np.argsort(-head_js, axis=None, kind="stable")[:k]
    return [(int(layer), int(head), float(head_js[layer, head]))
            for layer, head in zip(*np.unravel_index(flat, head_js.shape))]
