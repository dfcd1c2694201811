"""Grad-ECLIP (Zhao et al. 2024, "Gradient-based Visual and Textual Explanations for CLIP"):
an image map and a word map, on any `CLIPAdapter`.

In one attention layer, with x the attention's input (after the pre-norm), q, k, v its
projections [token, D] (heads side by side) and z the heads' context vectors entering the
output projection [token, D]:

    w        = dS/dz at the pooled token               [D]   (channel importance)
    lambda_i = minmax_i cos(q'_pool, k'_i)             [token] (a "loosened" attention:
               q' = q W_o + b_o, k' likewise, as the authors' generate_emap.py does)
    map_i    = ReLU( sum_c w_c * v_i,c * lambda_i )

S is the cosine of the image and text embeddings (the prompt's logit / logit scale); for
"A rather than B", cos(A) - cos(B). The image map reads the image tower's LAST layer; the word
map sums the term inside the ReLU over the text tower's last `text_layers` layers (the
authors' notebook uses 8 of CLIP's 12) and keeps the real words (special tokens zeroed),
normalised to sum 1. The pooled token is the tower's own (`image_pool_weights`,
`text_pool_weights`: CLS / EOT one-hot, or MiniLM's mean over tokens). An image tower pooled
by an attention head (SigLIP) is read at that head: query = its probe, keys = the patches.

Differences from the reference, on purpose: we differentiate the model's own forward (its
heads), where the authors' script re-runs the last layer as ONE head; q, k, v come from the
layer's weights (`models.attention_sites`) applied to the recorded input.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from operator import attrgetter
from typing import Callable

import numpy as np
import torch

from ..capture.activations import record_inputs, record_outputs, token_major
from ..models.arch import IMAGE_HEADS
from ..models.base import Encoded
from ..models.clip_base import CLIPAdapter, TowerOutput
from .tower_sites import TowerSite, image_site, text_site

F = torch.nn.functional


def _minmax(x: torch.Tensor) -> torch.Tensor:
    span = x.max() - x.min()
    return (x - x.min()) / span if span > 0 else torch.zeros_like(x)


def eclip_terms(site: TowerSite, layer: int, x: torch.Tensor, grad_z: torch.Tensor,
                pool: torch.Tensor) -> torch.Tensor:
    """The per-token term inside Grad-ECLIP's ReLU for one layer: [token].
    x: the attention's input [token, D]; grad_z: dS/dz [token, D]; pool: [token] weights."""
    w = site.weights(layer)
    x = x.to(w.W_q)
    q, k, v = (x @ w.W_q + w.b_q, x @ w.W_k + w.b_k, x @ w.W_v + w.b_v)      # each [token, D]
    q_out, k_out = q @ w.W_o + w.b_o, k @ w.W_o + w.b_o                      # each [token, D]
    q_pool = F.normalize(pool @ q_out, dim=-1)                              # [D]
    lam = _minmax(F.normalize(k_out, dim=-1) @ q_pool)                      # [token]
    w_c = pool @ grad_z.to(v)                                               # [D]
    return (v * w_c).sum(-1) * lam                                          # [token]


def _run_recording(site: TowerSite, layers: list[int], n_tokens: int,
                   run: Callable[[], TowerOutput]) -> tuple[TowerOutput, dict, dict]:
    """Run a tower once with the graph kept, recording for each layer the attention input x
    (detached) and the context vectors z entering the output projection (in the graph)."""
    norms = [site.pre_norm(i) for i in layers]
    post_ln = any(m is None for m in norms)        # BERT: the attention reads the block input
    xs_mods = [site.blocks[i] for i in layers] if post_ln else norms
    with record_inputs([site.out_projection(i) for i in layers]) as zs, \
            (record_inputs(xs_mods) if post_ln else record_outputs(xs_mods)) as xs:
        out = run()
    z = {layer: token_major(zs[j], n_tokens) for j, layer in enumerate(layers)}
    x = {layer: token_major(xs[j], n_tokens).detach() for j, layer in enumerate(layers)}
    return out, x, z


@dataclass(frozen=True)
class PoolingHead:
    """An attention-pooling head (a learned probe query over the patch tokens), as Grad-ECLIP
    reads it: out_proj (its INPUT is the probe's context z), keys (the module whose output
    the head reads: the patch tokens after the final norm) and qkv(x [patch, D]) -> (q [1, D],
    k [patch, D], v [patch, D]) from the head's own weights."""

    out_proj: torch.nn.Module
    keys: torch.nn.Module
    qkv: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def _parts(adapter) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(the pooling head, the final norm before it), where the family's spec says."""
    row = IMAGE_HEADS[adapter.family]
    return attrgetter(row["pool"])(adapter), attrgetter(row["norm"])(adapter)


def _hf_siglip_head(adapter) -> PoolingHead:
    head, norm = _parts(adapter)                          # probe + nn.MultiheadAttention
    mha = head.attention
    (w_q, w_k, w_v), (b_q, b_k, b_v) = mha.in_proj_weight.chunk(3), mha.in_proj_bias.chunk(3)
    return PoolingHead(mha.out_proj, norm,
                       lambda x: (F.linear(head.probe[0], w_q, b_q), F.linear(x, w_k, b_k),
                                  F.linear(x, w_v, b_v)))


def _timm_latent_head(adapter) -> PoolingHead:
    ap, norm = _parts(adapter)                            # timm ViT's AttentionPoolLatent

    def qkv(x):
        k, v = ap.kv(x).view(x.shape[0], 2, -1).unbind(1)                  # each [patch, D]
        return ap.q(ap.latent[0]), k, v
    return PoolingHead(ap.proj, norm, qkv)


# Image towers whose embedding comes from an attention-pooling head: Grad-ECLIP reads THAT
# attention, the last one on the way to the embedding. Keyed by the head's layout, which a
# family's spec names (models/arch.py: image_head["pool_attention"]).
POOLING_HEADS: dict[str, Callable[[CLIPAdapter], PoolingHead]] = {
    "hf_probe": _hf_siglip_head,
    "timm_latent": _timm_latent_head,
}


def _pooling_head_map(adapter: CLIPAdapter, pixels: torch.Tensor, text: torch.Tensor,
                      weights: torch.Tensor, ph: PoolingHead) -> tuple[np.ndarray, np.ndarray]:
    """Grad-ECLIP at an attention-pooling head: the query is the probe, the keys and values
    are the patches; z is the probe's context entering the head's out_proj (its FIRST call in
    the forward: the pooled token's; adapters call it again for the patch features)."""
    g = adapter.patch_grid
    pixels = pixels.detach().clone().requires_grad_(True)
    with record_inputs([ph.out_proj], every=True) as zs, record_outputs([ph.keys]) as hs:
        out = adapter.image_forward(pixels, keep_graph=True)
    s = (text.detach() @ F.normalize(out.embedding, dim=-1)) @ weights.to(text)   # scalar
    grad_z, = torch.autograd.grad(s, zs[0][0])                              # [1, 1, D]
    with torch.no_grad():
        q, k, v = ph.qkv(hs[0][0])                                           # [1, D], [patch, D]
        o = ph.out_proj
        lam = _minmax(F.normalize(o(k), dim=-1) @ F.normalize(o(q)[0], dim=-1))   # [patch]
        terms = (v * grad_z.reshape(-1)).sum(-1) * lam                       # [patch]
    return g.to_image(terms.clamp(min=0).double().cpu().numpy()), np.array([float(s.detach())])


def grad_eclip_image(adapter: CLIPAdapter, pixels: torch.Tensor, text: torch.Tensor,
                     weights: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(map over patches [rows, cols], the explained cosine difference as [1]).
    text: unit prompt embeddings [k, embed]; weights [k] (one prompt [1.], a contrast [1, -1])."""
    pooling = IMAGE_HEADS.get(adapter.family, {}).get("pool_attention")
    if pooling is not None:
        return _pooling_head_map(adapter, pixels, text, weights, POOLING_HEADS[pooling](adapter))
    site = image_site(adapter)
    g = adapter.patch_grid
    last = len(site.blocks) - 1
    pixels = pixels.detach().clone().requires_grad_(True)
    out, x, z = _run_recording(site, [last], g.n_tokens,
                               lambda: adapter.image_forward(pixels, keep_graph=True))
    s = (text.detach() @ F.normalize(out.embedding, dim=-1)) @ weights.to(text)   # scalar
    grad_z, = torch.autograd.grad(s, z[last])                               # [1, token, D]
    pool = torch.as_tensor(adapter.image_pool_weights(), dtype=grad_z.dtype)  # [token]
    terms = eclip_terms(site, last, x[last][0], grad_z[0].detach(), pool)    # [token]
    m = terms.clamp(min=0)[g.cls_offset:].double().cpu().numpy()            # [patch]
    return g.to_image(m), np.array([float(s.detach())])


def default_text_layers(depth: int) -> int:
    """The authors' notebook: the last 8 of CLIP's 12 text layers; we keep that share."""
    return max(1, math.ceil(depth * 2 / 3))


def grad_eclip_words(adapter: CLIPAdapter, enc: Encoded, image_emb: torch.Tensor,
                     text_layers: int | None = None, sign: float = 1.0) -> np.ndarray:
    """Grad-ECLIP's word map of one prompt [token] (sums to 1 over real words; zeros at
    special tokens and when nothing is positive). image_emb: the unit image embedding
    [embed] (detached: only the text tower is explained); sign -1 explains "against"."""
    site = text_site(adapter)
    depth = len(site.blocks)
    n_keep = default_text_layers(depth) if not text_layers else min(text_layers, depth)
    layers = list(range(depth - n_keep, depth))
    n = enc.inputs["input_ids"].shape[1]
    out, x, z = _run_recording(site, layers, n, lambda: adapter.text_forward(enc, keep_graph=True))
    s = sign * (F.normalize(out.embedding, dim=-1) @ image_emb.detach().to(out.embedding))
    grads = torch.autograd.grad(s, [z[i] for i in layers])                  # each [1, token, D]
    pool = torch.as_tensor(adapter.text_pool_weights(enc), dtype=grads[0].dtype)  # [token]
    total = sum(eclip_terms(site, i, x[i][0], gz[0].detach(), pool)
                for i, gz in zip(layers, grads))                           # [token]
    m = total.clamp(min=0).double().cpu().numpy()
    m[np.asarray(enc.special, bool)] = 0.0
    return m / m.sum() if m.sum() > 0 else m                                # [token]
