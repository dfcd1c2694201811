"""A temporary hook that keeps the attention probabilities an attention module returns as the
second item of its output `(out, probs)` (the fusion captioner's self- and cross-attention).

    with record_attention(adapter.cross_attention_modules()) as maps:
        adapter.model.decode(ids, memory)
    maps[layer]      # [batch, head, query, key], a detached copy of the last call's

The hook only reads; it is removed in `finally`. Nothing here knows a family.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import torch


@contextmanager
def record_attention(modules: Sequence[torch.nn.Module]) -> Iterator[dict[int, torch.Tensor]]:
    store: dict[int, torch.Tensor] = {}
    handles = []

    def keep(i: int):
        def hook(module, args, output):
            if not (isinstance(output, tuple) and len(output) > 1 and torch.is_tensor(output[1])):
                raise RuntimeError(f"{type(module).__name__} does not return (output, probabilities); "
                                   "its attention cannot be recorded here.")
            store[i] = output[1].detach().clone()
        return hook

    try:
        for i, m in enumerate(modules):
            handles.append(m.register_forward_hook(keep(i)))
        yield store
    finally:
        for h in handles:
            h.remove()
