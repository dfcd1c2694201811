"""LeGrad (Bousselham et al., "LeGrad: An Explainability Method for Vision Transformers via
Feature Formation Sensitivity", ICCV 2025), on any `CLIPAdapter`.

For each of the last `layers` layers l: the layer's tokens are summarised and sent through
the tower's output head as if the model stopped there (e_l = proj(LN(mean of the tokens)),
what the authors' code does for CLIP: `legrad/wrapper.py`, `compute_legrad_clip`), the score
s_l = <t, e_l / |e_l|> (t: the unit prompt embedding; for "A rather than B", t_A - t_B), and
the map of layer l is the gradient of s_l with respect to THAT layer's attention probabilities,
ReLU, averaged over heads and over query rows; its key columns over the patches are the map.
The maps are summed over layers and min-max normalised to [0, 1] (as the authors do).

One image forward (graph kept) and one backward per layer, all through the adapter's own
forward: hooks (`capture.activations.record_outputs`) keep every block's output in the graph.
Differences from the reference, on purpose: the per-layer gradients come from
`torch.autograd.grad` on the adapter's attention tensors (no module patching); SigLIP's
summary is its attention-pooling head (IMAGE_HEADS), and we differentiate the encoder's
attention, not the pooling head's (the authors' SigLIP branch does the latter).
"""
from __future__ import annotations

import numpy as np
import torch

from ..capture.activations import record_outputs, token_major
from ..models.clip_base import CLIPAdapter
from .tower_sites import image_head, image_site

F = torch.nn.functional


def legrad_layer_maps(adapter: CLIPAdapter, pixels: torch.Tensor, text: torch.Tensor,
                      weights: torch.Tensor, layers: int = 2) -> tuple[torch.Tensor, float]:
    """Per-layer LeGrad maps over the image tokens, before the sum and normalisation:
    ([layer, token] for the last `layers` layers, the final layer's score).

    pixels [1, 3, H, W]; text: unit prompt embeddings [k, embed]; weights [k]: the score is
    sum_k weights[k] * <text[k], e_l> (one prompt: [1.]; a contrast: [1., -1.])."""
    site = image_site(adapter)
    blocks, head = site.blocks, image_head(adapter)
    n = adapter.patch_grid.n_tokens
    pixels = pixels.detach().clone().requires_grad_(True)   # a graph even if weights are frozen
    with record_outputs(blocks) as outs:
        out = adapter.image_forward(pixels, keep_graph=True)
    # The encoder's blocks: SigLIP's adapter appends its pooling head's attention as one more
    # "layer" of layer_attentions; LeGrad reads the blocks' own.
    depth = len(blocks)
    t = (weights.to(text) @ text).detach()                                      # [embed]
    maps, score = [], 0.0
    for layer in range(max(0, depth - layers), depth):
        tokens = token_major(outs[layer], n)[0]                                 # [token, width]
        e = F.normalize(head(tokens), dim=-1)                                   # [embed]
        s = t @ e                                                               # scalar
        attn = out.layer_attentions[layer]                                      # [1, head, q, k]
        g, = torch.autograd.grad(s, attn, retain_graph=True)                   # [1, head, q, k]
        maps.append(g[0].clamp(min=0).mean(0).mean(0))                          # [k]
        score = float(s.detach())
    return torch.stack(maps).detach(), score                                    # [layer, token]


def legrad(adapter: CLIPAdapter, pixels: torch.Tensor, text: torch.Tensor,
           weights: torch.Tensor, layers: int = 2) -> np.ndarray:
    """The LeGrad map over patches [rows, cols], min-max normalised to [0, 1] (all zeros
    when every gradient is negative or zero)."""
    per_layer, _ = legrad_layer_maps(adapter, pixels, text, weights, layers)
    g = adapter.patch_grid
    m = per_layer.sum(0)[g.cls_offset:].double().cpu().numpy()                  # [patch]
    span = m.max() - m.min()
    m = (m - m.min()) / span if span > 0 else np.zeros_like(m)
    return g.to_image(m)                                                        # [rows, cols]
