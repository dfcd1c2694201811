"""Every image-text map, registered in one dict with its parameters as data, and one entry
point (`compute`) that the API and the pointing game share.

    out = compute(adapter, pixels, encs=[enc_a], method="relevance")          # why A
    out = compute(adapter, pixels, encs=[enc_a, enc_b], method="relevance")   # why A rather than B
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..models.base import Encoded
from ..models.clip_base import CLIPAdapter
from .attribution import Param, resolve_params
from .image_maps import (attention_maps, patch_row, pool_to_patches, raw_attention_map,
                         rollout_map, similarity_maps, upsample)
from .pixel_attribution import (PIXEL_METHODS, Progress, gradient_shap, integrated_gradients,
                                logit_function, occlusion)
from .relevance import relevance_batched

F = torch.nn.functional


@dataclass(frozen=True)
class ImageMethod:
    """name, label for people, parameters, and what the method is: `prompt` False = the map
    ignores the prompt (rollout, raw attention); `signed` = negative values mean "against"."""

    name: str
    label: str
    params: tuple[Param, ...] = ()
    prompt: bool = True
    signed: bool = False
    description: str = ""

    def resolve(self, given: dict) -> dict:
        return resolve_params(self.label, self.params, given)


IMAGE_METHODS: dict[str, ImageMethod] = {m.name: m for m in (
    ImageMethod("relevance", "Relevance (Chefer et al. 2021)",
                description="Gradient-weighted attention, propagated through the layers."),
    ImageMethod("similarity", "Patch-text similarity", signed=True,
                description="Cosine of each patch's projected feature with the prompt; no gradients."),
    ImageMethod("rollout", "Attention rollout", prompt=False,
                description="Head-averaged attention with the residual, multiplied over layers."),
    ImageMethod("raw_attention", "Last-layer CLS attention", prompt=False,
                description="Where the CLS token looks in the last layer, averaged over heads."),
    *(ImageMethod(name, label, params, signed=True, description="captum on pixels.")
      for name, (label, params) in PIXEL_METHODS.items()),
)}


@dataclass(frozen=True)
class MapOutput:
    """patch_scores [rows, cols]; pixel_scores [H, W] (patch blocks for patch-level methods);
    text: relevance over the first prompt's tokens [token] (relevance only); target_value:
    the explained logit (difference for a contrast); delta / n_steps: completeness info."""

    patch_scores: np.ndarray
    pixel_scores: np.ndarray
    target_value: float
    text: np.ndarray | None = None
    delta: float | None = None
    n_steps: int | None = None
    notes: list[str] = field(default_factory=list)


def text_embeddings(adapter: CLIPAdapter, encs: Sequence[Encoded]) -> torch.Tensor:
    """Unit text embeddings [prompt, embed] through the same text_forward the maps use."""
    with torch.no_grad():
        return F.normalize(torch.stack([adapter.text_forward(e).embedding for e in encs]), dim=-1)


def compute(adapter: CLIPAdapter, pixels: torch.Tensor, encs: Sequence[Encoded], method: str,
            params: dict | None = None, progress: Progress | None = None,
            text_emb: torch.Tensor | None = None) -> MapOutput:
    """One map for pixels [1, 3, H, W]: encs = [A] explains A's logit, [A, B] "A rather than B"."""
    m = IMAGE_METHODS[method]
    p = m.resolve(params or {})
    g = adapter.patch_grid
    weights = torch.tensor([1.0, -1.0][:len(encs)])                   # [k]
    if method == "relevance":
        rel = relevance_batched(adapter, pixels, encs, words=True)
        rows = rel.image[0] - (rel.image[1] if len(encs) > 1 else 0)  # [token]
        patch = patch_row(g, rows)
        return MapOutput(patch, upsample(patch, g), float(rel.scores @ weights.numpy()),
                         text=rel.text[0])
    t = text_embeddings(adapter, encs) if text_emb is None else text_emb   # [k, embed]
    forward = logit_function(adapter, t, weights)
    with torch.no_grad():
        value = float(forward(pixels)[0])
    if method in ("rollout", "raw_attention"):
        maps = attention_maps(adapter, pixels)
        patch = (rollout_map if method == "rollout" else raw_attention_map)(maps, g)
        return MapOutput(patch, upsample(patch, g), value)
    if method == "similarity":
        sims = similarity_maps(adapter, pixels, t)                   # [k, rows, cols]
        patch = sims[0] - (sims[1] if len(encs) > 1 else 0)
        return MapOutput(patch, upsample(patch, g), value)
    if method == "integrated_gradients":
        px, delta = integrated_gradients(forward, pixels, n_steps=p["n_steps"], progress=progress)
        return MapOutput(pool_to_patches(px, g), px, value, delta=delta, n_steps=p["n_steps"])
    if method == "occlusion":
        win = p["window"] or g.patch_size
        px = occlusion(forward, pixels, window=win, stride=max(1, win // 2))
        return MapOutput(pool_to_patches(px, g), px, value)
    if method == "gradient_shap":
        px, delta = gradient_shap(forward, pixels, n_samples=p["n_samples"], stdevs=p["stdevs"])
        return MapOutput(pool_to_patches(px, g), px, value, delta=delta)
    raise KeyError(method)
