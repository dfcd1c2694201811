"""The pointing game's rule (Zhang et al. 2016): does a map's peak lie on the named object?

A hit: the map's peak patch contains pixels of the object's mask. Every map is compared at
the patch grid (pixel maps are summed per patch first), so a pixel method is not penalised
for a one-pixel peak beside a small object. The game itself (scenes, every method, the shipped
table) is a program: `python -m mminspect.lab.pointing`.
"""
from __future__ import annotations

import numpy as np

from ..models.clip_base import PatchGrid


def mask_patches(mask: np.ndarray, grid: PatchGrid) -> np.ndarray:
    """bool [H, W] at the model's input size -> bool [rows, cols]: patches touching the mask."""
    p = grid.patch_size
    m = np.asarray(mask, bool)[:grid.rows * p, :grid.cols * p]
    return m.reshape(grid.rows, p, grid.cols, p).any((1, 3))


def pointing_hit(patch_scores: np.ndarray, mask: np.ndarray, grid: PatchGrid) -> bool:
    """The peak patch of the map touches the mask (ties: the first in row-major order)."""
    touched = mask_patches(mask, grid)                            # [rows, cols]
    peak = np.unravel_index(int(np.argmax(patch_scores)), patch_scores.shape)
    return bool(touched[peak])
