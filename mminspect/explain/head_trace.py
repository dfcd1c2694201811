"""One layer's multi-head attention, step by step, on real weights: what a student reads to see
how a head turns its input into its share of the output.

    x [T, D] --W_q, W_k, W_v--> q, k, v [head, T, d] --q·kᵀ--> scores [head, T, T]
      --× scale, mask, softmax over keys--> weights --· v--> context [head, T, d]
      --W_o (head's rows)--> output [head, T, D];  sum over heads + b_o = the attention output

T tokens, D = d_model, d = D / n_heads. Weights are oriented for `x @ W + b` (see
`models.attention_sites.LayerWeights`). Plain torch float32, as the model computes it.
"""
from __future__ import annotations

import torch


def split_heads(t: torch.Tensor, n_heads: int) -> torch.Tensor:
    """[T, D] -> [head, T, d]: head h owns features h·d:(h+1)·d (the FEATURE axis is cut)."""
    T, D = t.shape
    return t.view(T, n_heads, D // n_heads).transpose(0, 1)                 # [head, T, d]


def attention_mask(n_tokens: int, causal: bool, device=None) -> torch.Tensor:
    """bool [query, key], True where the query may see the key: everything for an encoder,
    the key's position <= the query's for a decoder (no look-ahead)."""
    full = torch.ones(n_tokens, n_tokens, dtype=torch.bool, device=device)   # [T, T]
    return full.tril() if causal else full                                  # [T, T]


def layer_steps(x: torch.Tensor, w, n_heads: int, scale: float, mask: torch.Tensor) -> dict:
    """Every intermediate of every head of one layer.

    x [T, D]; w: LayerWeights; mask bool [T, T]. Returns q, k, v [head, T, d], scores
    [head, T, T] (before scaling), weights [head, T, T], context [head, T, d], output
    [head, T, D] (each head through its rows of W_o, no bias) and attn_out [T, D]."""
    D = x.shape[-1]
    d = D // n_heads
    q = split_heads(x @ w.W_q + w.b_q, n_heads)                             # [head, T, d]
    k = split_heads(x @ w.W_k + w.b_k, n_heads)                             # [head, T, d]
    v = split_heads(x @ w.W_v + w.b_v, n_heads)                             # [head, T, d]
    scores = q @ k.transpose(-1, -2)                                        # [head, T, T]
    scaled = (scores * scale).masked_fill(~mask, float("-inf"))             # [head, T, T]
    weights = scaled.softmax(dim=-1)                                        # [head, T, T] rows sum to 1
    context = weights @ v                                                   # [head, T, d]
    W_o_heads = w.W_o.view(n_heads, d, D)                                   # [head, d, D] head h = rows h·d:(h+1)·d
    output = context @ W_o_heads                                            # [head, T, D]
    attn_out = output.sum(dim=0) + w.b_o                                    # [T, D]
    return {"q": q, "k": k, "v": v, "scores": scores, "weights": weights, "context": context,
            "output": output, "attn_out": attn_out}


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest absolute difference of two same-shaped tensors."""
    return float((a.float() - b.float()).abs().max())
