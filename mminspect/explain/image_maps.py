"""Image maps that need no gradient: attention rollout, the raw last-layer CLS attention and
the patch-text similarity map, plus the patch <-> pixel conversions every map shares.

Rollout and raw attention do not depend on the prompt (the image tower never sees it): they
show where the image tower looks, not why a label wins. The similarity map does depend on it:
every patch token through the final norm and projection, cosine with the prompt embedding
(zero-shot localisation, as in MaskCLIP / "CLIP surgery"-style views).
"""
from __future__ import annotations

import numpy as np
import torch

from ..models.clip_base import CLIPAdapter, PatchGrid, TowerOutput
from ..types import AttentionMaps
from .attention import rollout

F = torch.nn.functional


def patch_row(grid: PatchGrid, row: np.ndarray) -> np.ndarray:
    """A relevance row over image tokens [token] -> [rows, cols] (CLS entry dropped)."""
    return grid.to_image(np.asarray(row)[grid.cls_offset:])


def upsample(patch_scores: np.ndarray, grid: PatchGrid) -> np.ndarray:
    """[rows, cols] -> [H, W] at the model's input size, each patch a flat block (the map's
    true resolution; smoothing is the figure's choice)."""
    p = grid.patch_size
    return np.kron(patch_scores, np.ones((p, p), dtype=np.float32)).astype(np.float32)


def pool_to_patches(pixel_scores: np.ndarray, grid: PatchGrid) -> np.ndarray:
    """[H, W] -> [rows, cols]: the sum over each patch (sums keep IG's completeness)."""
    p = grid.patch_size
    s = np.asarray(pixel_scores)[:grid.rows * p, :grid.cols * p]
    return s.reshape(grid.rows, p, grid.cols, p).sum((1, 3))


def attention_maps(adapter: CLIPAdapter, pixels: torch.Tensor,
                   out: TowerOutput | None = None) -> AttentionMaps:
    """Every layer and head of the image tower for pixels [1, 3, H, W], no gradients (from
    `out`, that image's forward, when the caller already ran it)."""
    if out is None:
        with torch.no_grad():
            out = adapter.image_forward(pixels)
    w = out.attentions.detach().float().cpu().numpy()                     # [layer, head, q, k]
    special = np.zeros(len(out.tokens), dtype=bool)
    special[:adapter.patch_grid.cls_offset] = True
    return AttentionMaps(weights=w, tokens=list(out.tokens), special=special)


def rollout_map(maps: AttentionMaps, grid: PatchGrid) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020) from the CLS token: [rows, cols]."""
    return patch_row(grid, rollout(maps).weights[0])


def raw_attention_map(maps: AttentionMaps, grid: PatchGrid) -> np.ndarray:
    """The last layer's CLS attention over patches, averaged over heads: [rows, cols]."""
    return patch_row(grid, maps.weights[-1].mean(0)[0])


def similarity_maps(adapter: CLIPAdapter, pixels: torch.Tensor, text_emb: torch.Tensor,
                    patch_features: torch.Tensor | None = None) -> np.ndarray:
    """Cosine of every patch feature with every prompt: [prompt, rows, cols] for one image
    [1, 3, H, W] and text embeddings [prompt, embed] (one image forward for all, none when
    the patch features [patch, embed] of that image are given)."""
    g = adapter.patch_grid
    with torch.no_grad():
        if patch_features is None:
            patch_features = adapter.image_forward(pixels).patch_features     # [patch, embed]
        p = F.normalize(patch_features.to(text_emb), dim=-1)                  # [patch, embed]
        sims = F.normalize(text_emb, dim=-1) @ p.T                            # [prompt, patch]
    return sims.reshape(-1, g.rows, g.cols).float().cpu().numpy()             # [prompt, rows, cols]
