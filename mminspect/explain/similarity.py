"""Similarity between embeddings and the zero-shot scores built on it (numpy)."""
from __future__ import annotations

import numpy as np


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of rows: a [n, d], b [m, d] -> [n, m]."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True).clip(1e-12)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True).clip(1e-12)
    return a @ b.T


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(scores / temperature) over the last axis, computed stably."""
    z = np.asarray(scores, np.float64) / temperature
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)
