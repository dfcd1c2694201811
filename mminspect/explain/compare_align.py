"""Align two token sequences by edit distance (Levenshtein), so an inserted, removed or
changed word stands out and every other token is compared with its counterpart.

Why a small dynamic programme and not difflib: difflib.SequenceMatcher finds long matching
blocks (Ratcliff–Obershelp), not the fewest edits, and reports a changed stretch as one
"replace" block of possibly unequal lengths, so "cat" -> "cats" would not be paired token by
token. The edit-distance table gives the minimum number of edits and pairs each substituted
token with the one it replaced. Texts are at most a few hundred tokens: n × m cells is cheap.
"""
from __future__ import annotations

import numpy as np

from ..types.compare import Alignment


def _table(a: list[str], b: list[str]) -> np.ndarray:
    """cost[i, j]: edits that turn a[:i] into b[:j] (insert, delete or substitute: 1 each)."""
    n, m = len(a), len(b)
    ids = {tok: k for k, tok in enumerate(dict.fromkeys([*a, *b]))}   # ints compare ~10x faster
    a_ids = np.array([ids[t] for t in a], np.int64)
    b_ids = np.array([ids[t] for t in b], np.int64)
    cost = np.zeros((n + 1, m + 1), np.int64)                     # [n + 1, m + 1]
    cost[:, 0] = np.arange(n + 1)
    cost[0, :] = np.arange(m + 1)
    steps = np.arange(m + 1)                                      # [m + 1]
    for i in range(1, n + 1):
        sub = cost[i - 1, :-1] + (b_ids != a_ids[i - 1])          # [m] diagonal: keep or change
        base = np.concatenate([[i], np.minimum(sub, cost[i - 1, 1:] + 1)])   # [m + 1] + delete
        # insertions run left to right: cost[i, j] = min over j' <= j of base[j'] + (j - j'),
        # a running minimum instead of a Python loop over j
        cost[i] = steps + np.minimum.accumulate(base - steps)
    return cost


def _common_suffix(a: list[str], b: list[str]) -> int:
    k = 0
    while k < min(len(a), len(b)) and a[-1 - k] == b[-1 - k]:
        k += 1
    return k


def align_tokens(a: list[str], b: list[str]) -> Alignment:
    """The edit-distance alignment of token lists `a` and `b`. On ties a diagonal step
    (same or changed) wins over a gap, so equal-length texts pair position by position.

    Equal last tokens are paired before the table is built: d(x + c, y + c) = d(x, y), so the
    walk back from the end would take that diagonal step first anyway, and cost[i, j] depends
    on a[:i], b[:j] only. One word inserted early in 256 tokens then needs a 7 × 8 table, not
    257 × 258 (the same pairs, tested against the whole table)."""
    k = _common_suffix(a, b)
    n, m = len(a) - k, len(b) - k
    cost = _table(a[:n], b[:m])
    i, j = n, m
    ai, bi = list(range(len(a) - 1, n - 1, -1)), list(range(len(b) - 1, m - 1, -1))
    ops = ["same"] * k
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i, j] == cost[i - 1, j - 1] + (a[i - 1] != b[j - 1]):
            ai.append(i - 1), bi.append(j - 1)
            ops.append("same" if a[i - 1] == b[j - 1] else "changed")
            i, j = i - 1, j - 1
        elif i > 0 and cost[i, j] == cost[i - 1, j] + 1:
            ai.append(i - 1), bi.append(-1), ops.append("deleted")
            i -= 1
        else:
            ai.append(-1), bi.append(j - 1), ops.append("inserted")
            j -= 1
    return Alignment(tokens_a=list(a), tokens_b=list(b), a_index=np.array(ai[::-1], np.int64),
                     b_index=np.array(bi[::-1], np.int64), ops=ops[::-1])


def edit_distance(a: list[str], b: list[str]) -> int:
    return int(_table(a, b)[-1, -1])


def relative_depth(n_a: int, n_b: int) -> np.ndarray:
    """int [n_a]: for each layer of A, the layer of B at the same relative depth (first to
    first, last to last, the rest by rounding). The identity when the depths match."""
    if n_a == 1:
        return np.array([n_b - 1], np.int64)
    return np.rint(np.arange(n_a) * (n_b - 1) / (n_a - 1)).astype(np.int64)
