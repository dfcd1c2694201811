"""Per-layer attention of an open_clip transformer, by a temporary patch of each block's
`attn.forward` (open_clip has no `output_attentions`).

Why a recomputation and not `need_weights=True`: the weights `nn.MultiheadAttention` returns are
not on the path to its output (their gradient stays None), so gradient-weighted relevance could
not use them. Inside the patch we compute q, k, v from `in_proj_weight`/`in_proj_bias`, the
softmax and `out_proj` ourselves: the recorded pattern is the tensor the output is built from,
and the output equals the library's (tested). The patch lives only inside `capture_attention`,
which restores every block in `finally`, even when the forward raises.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from open_clip.transformer import ResidualAttentionBlock
from torch import nn

from ..types import InputError


class AttentionNotAvailable(InputError):
    """This architecture's attention cannot be captured (custom attention, timm/HF towers)."""


# What each block must be for the recomputation below to be exactly the library's attention:
# (check on the block, why not when it fails). Custom blocks (qk-norm, scaled cosine attention,
# head scaling) and timm/HF towers compute attention differently, so they are refused by name.
BLOCK_CHECKS: list[tuple[Callable[[nn.Module], bool], str]] = [
    (lambda b: isinstance(b, ResidualAttentionBlock),
     "its blocks are not open_clip's standard ResidualAttentionBlock (custom attention such as "
     "qk-norm, scaled cosine attention or head scaling)"),
    (lambda b: isinstance(b.attn, nn.MultiheadAttention),
     "its attention is not torch's nn.MultiheadAttention"),
    (lambda b: b.attn.in_proj_weight is not None,
     "its attention has separate q/k/v projections of different sizes"),
    (lambda b: b.attn.bias_k is None and b.attn.bias_v is None,
     "its attention adds extra key/value biases"),
]


def why_not_capturable(transformer: nn.Module) -> str | None:
    """None when every block's attention can be captured; otherwise the reason, for people."""
    blocks = getattr(transformer, "resblocks", None)
    if not isinstance(blocks, nn.ModuleList) or len(blocks) == 0:
        return f"{type(transformer).__name__} has no open_clip residual blocks (a timm or HF tower)"
    for check, reason in BLOCK_CHECKS:
        if not all(check(b) for b in blocks):
            return reason
    return None


def require_capturable(transformer: nn.Module, what: str = "this tower") -> None:
    reason = why_not_capturable(transformer)
    if reason:
        raise AttentionNotAvailable(f"Attention not available for this architecture: {what}: "
                                    f"{reason}. Similarity still works; for attention maps use a "
                                    "standard ViT such as open_clip:ViT-B-32.")


def additive_mask(mask: torch.Tensor, batch: int, heads: int, dtype: torch.dtype) -> torch.Tensor:
    """nn.MultiheadAttention's attn_mask ([query, key] or [batch*head, query, key], bool = "may
    not attend" or additive float) as an additive float mask broadcastable to [batch, head, q, k]."""
    if mask.dtype == torch.bool:
        mask = torch.zeros_like(mask, dtype=dtype).masked_fill(mask, float("-inf"))
    if mask.ndim == 3:
        mask = mask.view(batch, heads, *mask.shape[-2:])                     # [batch, head, q, k]
    return mask.to(dtype)


def recording_forward(attn: nn.MultiheadAttention, maps: list[torch.Tensor]) -> Callable:
    """A drop-in `attn.forward` that computes attention in the graph and appends the pattern
    [batch, head, query, key] to `maps`."""

    def forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        if key_padding_mask is not None:
            raise AttentionNotAvailable("Attention not available for this architecture: it "
                                        "passes a key padding mask, which the capture does not model.")
        if not attn.batch_first:                    # [token, batch, d] -> [batch, token, d]
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        n, lq, d = query.shape
        h = attn.num_heads
        hd = d // h
        w_q, w_k, w_v = attn.in_proj_weight.chunk(3)                          # each [d, d]
        b_q, b_k, b_v = attn.in_proj_bias.chunk(3) if attn.in_proj_bias is not None else (None,) * 3
        q = F.linear(query, w_q, b_q).view(n, lq, h, hd).transpose(1, 2)      # [batch, head, query, hd]
        k = F.linear(key, w_k, b_k).view(n, -1, h, hd).transpose(1, 2)        # [batch, head, key, hd]
        v = F.linear(value, w_v, b_v).view(n, -1, h, hd).transpose(1, 2)      # [batch, head, key, hd]
        scores = (q * hd ** -0.5) @ k.transpose(-1, -2)                       # [batch, head, query, key]
        if attn_mask is not None:
            scores = scores + additive_mask(attn_mask, n, h, scores.dtype)
        pattern = scores.softmax(dim=-1)                                      # [batch, head, query, key]
        maps.append(pattern)
        z = (pattern @ v).transpose(1, 2).reshape(n, lq, d)                   # [batch, query, d]
        out = attn.out_proj(z)                                                # [batch, query, d]
        if not attn.batch_first:
            out = out.transpose(0, 1)                                         # [query, batch, d]
        weights = (pattern.mean(1) if average_attn_weights else pattern) if need_weights else None
        return out, weights

    return forward


@contextmanager
def capture_attention(transformer: nn.Module, what: str = "this tower") -> Iterator[list[torch.Tensor]]:
    """Inside the block, every forward of `transformer` appends one pattern per layer,
    [batch, head, query, key], in graph, to the yielded list. Restores the blocks on exit."""
    require_capturable(transformer, what)
    maps: list[torch.Tensor] = []
    patched: list[tuple[nn.Module, object]] = []
    _missing = object()
    try:
        for block in transformer.resblocks:
            attn = block.attn
            patched.append((attn, vars(attn).get("forward", _missing)))
            attn.forward = recording_forward(attn, maps)   # instance attribute shadows the method
        yield maps
    finally:
        for attn, previous in reversed(patched):
            if previous is _missing:
                del attn.forward                           # the class's own forward again
            else:
                attn.forward = previous


def is_patched(transformer: nn.Module) -> bool:
    """True while any block's attention is patched (tests check it is False after use)."""
    return any("forward" in vars(b.attn) for b in getattr(transformer, "resblocks", []))
