"""Make an open_clip tower's heads visible to the head hooks of `capture/heads.py`.

open_clip's blocks use torch's `nn.MultiheadAttention`, whose forward hands `out_proj.weight`
to the fused `F.multi_head_attention_forward`: the output projection is never *called*, so a
forward pre-hook on `attn.out_proj` never runs and no hook sees the heads. The attention
capture (`capture/open_clip_attention.py`) already replaces each block's `attn.forward` by a
recomputation that ends in `attn.out_proj(z)`, z = the heads' context vectors concatenated
[batch, query, head * d_head] (batch first, whatever the tower's layout). Inside
`expose_heads` the same recomputation runs, only without keeping the patterns, so
`capture_head_inputs` / `edit_heads` on `attn.out_proj` ablate, read and patch open_clip's
heads exactly as for the other families. Its output equals the library's (tested to 1e-5 in
tests/test_clip_adapters_open_clip.py and tests/test_causal_open_clip.py).

    with expose_heads(model.visual.transformer), edit_heads(out_projs, n_heads, select, values):
        z = model.encode_image(pixels)

Restored in `finally`, like every patch here.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from .open_clip_attention import recording_forward, require_capturable


class _Discard(list):
    """A list that keeps nothing: the recomputation appends each pattern, and a scan of many
    batched forwards has no use for them."""

    def append(self, item: torch.Tensor) -> None:
        pass


@contextmanager
def expose_heads(transformer: nn.Module, what: str = "this tower") -> Iterator[None]:
    """Inside the block every block of `transformer` (an open_clip `Transformer`) computes its
    attention by the recomputation that calls `attn.out_proj` as a module. Refuses (an
    InputError naming the reason) the blocks whose attention the recomputation does not model."""
    require_capturable(transformer, what)
    sink = _Discard()
    patched: list[tuple[nn.Module, object]] = []
    missing = object()
    try:
        for block in transformer.resblocks:
            attn = block.attn
            patched.append((attn, vars(attn).get("forward", missing)))
            attn.forward = recording_forward(attn, sink)   # instance attribute shadows the method
        yield
    finally:
        for attn, previous in reversed(patched):
            if previous is missing:
                del attn.forward                           # the class's own forward again
            else:
                attn.forward = previous
