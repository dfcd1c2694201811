"""Statistics over captured attention: per-head summary and attention rollout.

Pure numpy on `AttentionMaps`, so the UI can recompute them (e.g. after hiding tokens)
without touching the model.
"""
from __future__ import annotations

import numpy as np

from ..types import AttentionMaps, HeadSummary, Rollout


def head_summary(maps: AttentionMaps) -> HeadSummary:
    """Entropy, mean distance and where the attention goes, per [layer, head]."""
    w = maps.weights.astype(np.float64)                           # [layer, head, query, key]
    n = w.shape[-1]
    # Entropy of each row; 0 * log 0 is taken as 0 (causal rows are mostly zeros).
    logw = np.log(np.where(w > 0, w, 1.0))                        # [layer, head, query, key]
    entropy = -(w * logw).sum(-1)                                 # [layer, head, query]
    pos = np.arange(n)
    dist = np.abs(pos[:, None] - pos[None, :])                    # [query, key]
    distance = (w * dist).sum(-1)                                 # [layer, head, query]
    special = w[..., maps.special].sum(-1)                        # [layer, head, query]
    self_ = np.diagonal(w, axis1=-2, axis2=-1)                    # [layer, head, query]
    # The first query has no previous token: average the previous-token share over queries 1..n-1.
    prev = np.diagonal(w, offset=-1, axis1=-2, axis2=-1) if n > 1 else np.zeros(w.shape[:2] + (1,))
    first = w[..., 0]                                             # [layer, head, query]
    return HeadSummary(
        entropy=entropy.mean(-1), distance=distance.mean(-1), special=special.mean(-1),
        self_=self_.mean(-1), previous=prev.mean(-1), first=first.mean(-1))


def rollout(maps: AttentionMaps, residual: float = 0.5) -> Rollout:
    """Attention rollout (Abnar & Zuidema 2020).

    Each layer's head-averaged attention is mixed with the identity to account for the
    residual connection (A' = r*I + (1-r)*A, rows renormalised), and the layers are multiplied
    from the bottom up: R = A'_L @ ... @ A'_1.
    """
    w = maps.weights.astype(np.float64).mean(1)                   # [layer, query, key]
    n = w.shape[-1]
    eye = np.eye(n)
    out = eye
    for a in w:                                                   # a: [query, key]
        a = residual * eye + (1 - residual) * a
        a = a / a.sum(-1, keepdims=True)
        out = a @ out                                             # [query, key]
    return Rollout(weights=out, tokens=list(maps.tokens))
