"""Multi-head self-attention, written right once and then wrong on purpose, the way articles and
hand-written code often get it wrong. Each function is short so a student can read it next to
the reference and spot the one line that differs (marked `# MISTAKE`).

Every function has the same signature, the one `mi.check_attention` calls yours with:

    fn(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask) -> output

    x        [T, D]  torch float32, the attention's input (T tokens, D = d_model)
    W_q ...  [D, D]  used as x @ W_q + b_q (columns h·d:(h+1)·d belong to head h, d = D / n_heads)
    b_q ...  [D]
    W_o      [D, D]  context @ W_o + b_o (rows h·d:(h+1)·d read head h's context)
    n_heads  int
    mask     bool [T, T], True where query i may see key j (all True for an encoder's single
             unpadded input; the lower triangle for a decoder)
    output   [T, D]  the attention output, output bias included (before the residual add)

The keyword `trace` is for the app only: pass a dict and the function stores the attention
weights it computed there (`trace["weights"]`: [head, T, T]).
"""
from __future__ import annotations

import math

import torch


def _keep(trace: dict | None, weights: torch.Tensor) -> None:
    if trace is not None:
        trace["weights"] = weights


def correct_attention(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask, *, trace=None):
    """The reference: what BERT, GPT-2 and CLIP compute."""
    T, D = x.shape
    d = D // n_heads
    q = (x @ W_q + b_q).view(T, n_heads, d).transpose(0, 1)     # [head, T, d]
    k = (x @ W_k + b_k).view(T, n_heads, d).transpose(0, 1)     # [head, T, d]
    v = (x @ W_v + b_v).view(T, n_heads, d).transpose(0, 1)     # [head, T, d]
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)             # [head, T, T]
    scores = scores.masked_fill(~mask, float("-inf"))           # [head, T, T] hidden keys get 0 weight
    weights = scores.softmax(dim=-1)                            # [head, T, T] each query's row sums to 1
    _keep(trace, weights)
    context = weights @ v                                       # [head, T, d]
    concat = context.transpose(0, 1).reshape(T, D)              # [T, D] the heads side by side
    return concat @ W_o + b_o                                   # [T, D]


def no_scale(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask, *, trace=None):
    """Scores not divided by sqrt(d): the softmax saturates (one key takes nearly all)."""
    T, D = x.shape
    d = D // n_heads
    q = (x @ W_q + b_q).view(T, n_heads, d).transpose(0, 1)     # [head, T, d]
    k = (x @ W_k + b_k).view(T, n_heads, d).transpose(0, 1)     # [head, T, d]
    v = (x @ W_v + b_v).view(T, n_heads, d).transpose(0, 1)     # [head, T, d]
    scores = q @ k.transpose(-1, -2)                            # [head, T, T]  MISTAKE: no / sqrt(d)
    scores = scores.masked_fill(~mask, float("-inf"))           # [head, T, T]
    weights = scores.softmax(dim=-1)                            # [head, T, T]
    _keep(trace, weights)
    context = weights @ v                                       # [head, T, d]
    return context.transpose(0, 1).reshape(T, D) @ W_o + b_o    # [T, D]


def softmax_over_queries(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask, *, trace=None):
    """Softmax over the wrong axis: each KEY's column sums to 1, so a query's weights do not."""
    T, D = x.shape
    d = D // n_heads
    q = (x @ W_q + b_q).view(T, n_heads, d).transpose(0, 1)     # [head, T, d]
    k = (x @ W_k + b_k).view(T, n_heads, d).transpose(0, 1)     # [head, T, d]
    v = (x @ W_v + b_v).view(T, n_heads, d).transpose(0, 1)     # [head, T, d]
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)             # [head, T, T]
    scores = scores.masked_fill(~mask, float("-inf"))           # [head, T, T]
    weights = scores.softmax(dim=-2)                            # [head, T, T]  MISTAKE: over queries
    _keep(trace, weights)
    context = weights @ v                                       # [head, T, d]
    return context.transpose(0, 1).reshape(T, D) @ W_o + b_o    # [T, D]


def heads_not_split(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask, *, trace=None):
    """One big head of width D: n_heads is never used, so every token gets ONE weighting
    instead of one per head."""
    T, D = x.shape
    q = x @ W_q + b_q                                           # [T, D]  MISTAKE: never split
    k = x @ W_k + b_k                                           # [T, D]
    v = x @ W_v + b_v                                           # [T, D]
    scores = q @ k.T / math.sqrt(D)                             # [T, T]
    scores = scores.masked_fill(~mask, float("-inf"))           # [T, T]
    weights = scores.softmax(dim=-1)                            # [T, T]
    _keep(trace, weights[None])                                 # [1, T, T]
    return weights @ v @ W_o + b_o                              # [T, D]


def qkv_wrong_axis(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask, *, trace=None):
    """q, k and v cut from the fused projection along the SEQUENCE instead of the features
    (the bug of transposing or reshaping before chunking)."""
    T, D = x.shape
    d = D // n_heads
    qkv = torch.cat([x @ W_q + b_q, x @ W_k + b_k, x @ W_v + b_v], dim=-1)   # [T, 3D] fused, as many codes do
    q, k, v = qkv.reshape(3, T, D)                              # MISTAKE: right is qkv.view(T, 3, D).unbind(1)
    q = q.view(T, n_heads, d).transpose(0, 1)                   # [head, T, d]
    k = k.view(T, n_heads, d).transpose(0, 1)                   # [head, T, d]
    v = v.view(T, n_heads, d).transpose(0, 1)                   # [head, T, d]
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)             # [head, T, T]
    scores = scores.masked_fill(~mask, float("-inf"))           # [head, T, T]
    weights = scores.softmax(dim=-1)                            # [head, T, T]
    _keep(trace, weights)
    context = weights @ v                                       # [head, T, d]
    return context.transpose(0, 1).reshape(T, D) @ W_o + b_o    # [T, D]


def no_output_projection(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask, *, trace=None):
    """The heads' contexts are returned side by side: W_o (which mixes the heads) is skipped."""
    T, D = x.shape
    d = D // n_heads
    q = (x @ W_q + b_q).view(T, n_heads, d).transpose(0, 1)     # [head, T, d]
    k = (x @ W_k + b_k).view(T, n_heads, d).transpose(0, 1)     # [head, T, d]
    v = (x @ W_v + b_v).view(T, n_heads, d).transpose(0, 1)     # [head, T, d]
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)             # [head, T, T]
    scores = scores.masked_fill(~mask, float("-inf"))           # [head, T, T]
    weights = scores.softmax(dim=-1)                            # [head, T, T]
    _keep(trace, weights)
    context = weights @ v                                       # [head, T, d]
    return context.transpose(0, 1).reshape(T, D)                # [T, D]  MISTAKE: no @ W_o + b_o


def no_causal_mask(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask, *, trace=None):
    """A decoder without its causal mask: every token also sees the tokens after it."""
    everything = torch.ones_like(mask)                          # [T, T]  MISTAKE: the mask is ignored
    return correct_attention(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, everything,
                             trace=trace)


def causal_mask_added(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask, *, trace=None):
    """An encoder given a decoder's causal mask: each token sees only itself and the tokens
    before it (what a decoder may not see)."""
    causal = mask & torch.ones_like(mask).tril()                # [T, T]  MISTAKE for an encoder
    return correct_attention(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, causal,
                             trace=trace)


def no_position_embeddings(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask, *, trace=None):
    """The attention itself is right; the mistake is before it: the position embeddings were
    left out of the input sum, so the model cannot tell word order (the api runs the model with
    them zeroed)."""
    return correct_attention(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, n_heads, mask, trace=trace)


# name -> (function, the mistake in one sentence, which models it applies to: "any",
# "encoder" (bidirectional) or "decoder" (causal)).
ATTENTION_VARIANTS: dict[str, tuple] = {
    "correct_attention": (correct_attention, "The reference: the model's own computation.", "any"),
    "no_scale": (no_scale, "The scores are not divided by √d, so the softmax saturates.", "any"),
    "softmax_over_queries": (softmax_over_queries, "The softmax runs over the queries instead "
                             "of the keys, so a query's weights no longer sum to 1.", "any"),
    "heads_not_split": (heads_not_split, "The heads are never split: one big head of width "
                        "d_model instead of n_heads heads.", "any"),
    "qkv_wrong_axis": (qkv_wrong_axis, "q, k and v are cut from the fused projection along the "
                       "sequence instead of the features.", "any"),
    "no_output_projection": (no_output_projection, "The output projection W_O (and its bias) "
                             "is skipped: the heads' outputs are returned side by side.", "any"),
    "no_causal_mask": (no_causal_mask, "The causal mask is left out: every token sees the "
                       "future.", "decoder"),
    "causal_mask_added": (causal_mask_added, "A causal mask is added to an encoder: each token "
                          "sees only the past (what a decoder may not see).", "encoder"),
    "no_position_embeddings": (no_position_embeddings, "The position embeddings are left out "
                               "of the input sum: word order is invisible.", "any"),
}

# Mistakes made before the attention (in the embeddings): the api changes the model's input,
# and a function of (x, weights) alone cannot show them.
EMBEDDING_VARIANTS = ("no_position_embeddings",)

# What to look at when a function matches a mistake (check_attention's hint).
ADVICE: dict[str, str] = {
    "correct_attention": "It computes what the model computes.",
    "no_scale": "Divide q·kᵀ by sqrt(d_head) (d_head = D / n_heads) before the softmax.",
    "softmax_over_queries": "Take the softmax over the keys (the last axis, dim=-1): each "
                            "query's row of weights must sum to 1.",
    "heads_not_split": "Reshape q, k, v to [n_heads, T, d_head] and run the softmax per head; "
                       "scale by sqrt(d_head), not sqrt(d_model).",
    "qkv_wrong_axis": "Cut q, k and v along the feature axis (the last one), never along the "
                      "tokens: transpose only after splitting.",
    "no_output_projection": "Multiply the concatenated heads by W_o and add b_o.",
    "no_causal_mask": "Apply the mask: set scores of keys a query may not see to -inf before "
                      "the softmax.",
    "causal_mask_added": "This model is an encoder: every token may see every other one; use "
                         "the mask you are given, not a triangular one.",
}


def variants_for(causal: bool, attention_only: bool = False) -> dict[str, tuple]:
    """The registry's entries that apply to an encoder (causal=False) or a decoder; without
    the embedding-level ones when `attention_only`."""
    kind = "decoder" if causal else "encoder"
    return {name: entry for name, entry in ATTENTION_VARIANTS.items()
            if entry[2] in ("any", kind) and not (attention_only and name in EMBEDDING_VARIANTS)}
