"""Training-free dense patch-text maps: the image tower's LAST attention layer is changed for
one forward, then every patch token goes through the tower's own final norm and projection
(the adapter's `patch_features`) and is compared with the prompt by cosine. No gradients.

- MaskCLIP (Zhou, Loy & Dai, ECCV 2022, "Extract Free Dense Labels from CLIP"): the last
  layer's query-key attention is skipped; each token's attention output is its own value
  through the output projection, out(v(x_i)); the residual and the MLP stay, as in the
  authors' code (mmseg/models/backbones/vit.py: `v = out_proj(v); v += x; v = ffn(ln2(v), v)`).
- SCLIP-style self-self attention (Wang et al. 2024, "SCLIP: Rethinking Self-Attention for
  Dense Vision-Language Inference"): the last layer's attention is softmax(q q^T * scale) +
  softmax(k k^T * scale) (each token attends to tokens like itself), residual and MLP kept,
  as in the authors' clip/model.py `custom_attn(csa=True)`.

Both replace the output of the last layer's attention module (`capture.layer_io.
replace_attention`, hooks removed in `finally`); the rest of the forward is the adapter's.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..capture.layer_io import replace_attention
from ..models.attention_sites import LayerWeights
from ..models.clip_base import CLIPAdapter
from .tower_sites import image_site

F = torch.nn.functional

# (x [token, D], weights, heads, scale) -> attention output [token, D] (output bias included)
LastLayer = Callable[[torch.Tensor, LayerWeights, int, float], torch.Tensor]


def value_path(x: torch.Tensor, w: LayerWeights, heads: int, scale: float) -> torch.Tensor:
    """MaskCLIP: every token attends to itself only, out(v(x))."""
    return (x @ w.W_v + w.b_v) @ w.W_o + w.b_o                             # [token, D]


def self_self(x: torch.Tensor, w: LayerWeights, heads: int, scale: float) -> torch.Tensor:
    """SCLIP: per head, softmax(q q^T s) + softmax(k k^T s) applied to the values."""
    t, d = x.shape
    split = lambda y: y.view(t, heads, d // heads).transpose(0, 1)          # noqa: E731 [head, token, dh]
    q, k, v = split(x @ w.W_q + w.b_q), split(x @ w.W_k + w.b_k), split(x @ w.W_v + w.b_v)
    attn = ((q @ q.transpose(1, 2)) * scale).softmax(-1) \
        + ((k @ k.transpose(1, 2)) * scale).softmax(-1)                     # [head, token, token]
    ctx = (attn @ v).transpose(0, 1).reshape(t, d)                          # [token, D]
    return ctx @ w.W_o + w.b_o                                              # [token, D]


LAST_LAYERS: dict[str, LastLayer] = {"maskclip": value_path, "sclip": self_self}


def dense_patch_features(adapter: CLIPAdapter, pixels: torch.Tensor, variant: str) -> torch.Tensor:
    """The patch features [patch, embed] of one image [1, 3, H, W] with the last layer's
    attention replaced by `variant` (a key of LAST_LAYERS)."""
    site = image_site(adapter)
    last = len(site.blocks) - 1
    w, heads, scale = site.weights(last), site.heads(last), site.scale(last)
    fn = LAST_LAYERS[variant]

    def compute(layer: int, x: torch.Tensor) -> torch.Tensor:              # x [token, D]
        return fn(x.to(w.W_v), w, heads, scale)

    with torch.no_grad(), replace_attention([site.blocks[last]], [site.pre_norm(last)],
                                            [site.out_hook(last)], compute,
                                            batch_first=site.batch_first):
        out = adapter.image_forward(pixels)
    return out.patch_features                                               # [patch, embed]


def dense_maps(adapter: CLIPAdapter, pixels: torch.Tensor, text: torch.Tensor,
               variant: str) -> np.ndarray:
    """Cosine of every changed patch feature with every prompt: [prompt, rows, cols].
    text: prompt embeddings [prompt, embed]."""
    g = adapter.patch_grid
    p = F.normalize(dense_patch_features(adapter, pixels, variant).to(text), dim=-1)  # [patch, embed]
    sims = F.normalize(text, dim=-1) @ p.T                                  # [prompt, patch]
    return sims.reshape(-1, g.rows, g.cols).detach().float().cpu().numpy()
