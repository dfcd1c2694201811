"""The pointing game's rule (Zhang et al. 2016): does a map's peak lie on the named object?
And energy-in-mask (the "energy-based pointing game" of Score-CAM, Wang et al. 2020): which
share of the map's positive mass lies on the object?

A hit: the map's peak patch contains pixels of the object's mask. Every map is compared at
the patch grid (pixel maps are summed per patch first), so a pixel method is not penalised
for a one-pixel peak beside a small object. Energy-in-mask uses the same patch map, each
patch's positive score spread evenly over its pixels: a uniform map scores the mask's share
of the image (its chance level), a map whose positive mass is all on the object scores 1. The game itself (scenes, every method, the shipped
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


def mask_fraction(mask: np.ndarray, grid: PatchGrid) -> np.ndarray:
    """bool [H, W] -> float [rows, cols]: the share of each patch's pixels inside the mask."""
    p = grid.patch_size
    m = np.asarray(mask, bool)[:grid.rows * p, :grid.cols * p]
    return m.reshape(grid.rows, p, grid.cols, p).mean((1, 3))


def energy_in_mask(patch_scores: np.ndarray, mask: np.ndarray, grid: PatchGrid) -> float:
    """Share of the map's positive mass inside the mask, in [0, 1]; 0 when nothing is
    positive. patch_scores [rows, cols]; mask bool [H, W] at the model's input size."""
    pos = np.clip(np.asarray(patch_scores, np.float64), 0, None)            # [rows, cols]
    total = pos.sum()
    return float((pos * mask_fraction(mask, grid)).sum() / total) if total > 0 else 0.0
