"""Rank agreement between maps: the number a sanity check tracks, and the matrix that shows
where methods disagree on one input.

Spearman's rho (scipy), with the two cases it leaves undefined made explicit: two equal maps
agree (1, even if constant), and a constant map against a varying one ranks nothing (0)."""
from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr


def rank_correlation(a, b) -> float:
    """Spearman's rho of two maps of the same features (flattened), in [-1, 1]."""
    a = np.asarray(a, dtype=np.float64).ravel()                # [feature]
    b = np.asarray(b, dtype=np.float64).ravel()                # [feature]
    if a.shape != b.shape:
        raise ValueError(f"maps to correlate must have the same features, got {a.shape} and {b.shape}")
    if np.array_equal(a, b):
        return 1.0
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(np.clip(spearmanr(a, b).statistic, -1.0, 1.0))


def agreement_matrix(maps) -> tuple[np.ndarray, np.ndarray]:
    """maps: [method, feature] -> (signed, absolute) Spearman matrices [method, method]."""
    maps = np.asarray(maps, dtype=np.float64)                  # [method, feature]
    n = len(maps)
    signed, absolute = np.eye(n), np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            signed[i, j] = signed[j, i] = rank_correlation(maps[i], maps[j])
            absolute[i, j] = absolute[j, i] = rank_correlation(np.abs(maps[i]), np.abs(maps[j]))
    return signed, absolute


def null_sd(n_features: int) -> float:
    """The spread of Spearman's rho between two unrelated rankings of n features,
    1 / sqrt(n - 1): below about 10 features one correlation says little."""
    return float("inf") if n_features < 2 else 1.0 / float(np.sqrt(n_features - 1))
