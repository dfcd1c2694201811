"""A temporary hook that keeps the attention probabilities an attention module returns as the
second item of its output `(out, probs)` (the fusion captioner's self- and cross-attention).

    with record_attention(adapter.cross_attention_modules()) as maps:
        adapter.model.decode(ids, memory)
    maps[layer]      # [batch, head, query, key], a detached copy of the last call's

The hook only reads; it is removed in `finally`. Nothing here knows a family.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import partial
from typing import Iterator, Sequence

import torch


def _keep_probs(store: dict[int, torch.Tensor], i: int, module, args, output) -> None:
    if not (isinstance(output, tuple) and len(output) > 1 and torch.is_tensor(output[1])):
        raise RuntimeError(f"{type(module).__name__} does not return (output, probabilities); "
                           "its attention cannot be recorded here.")
    store[i] = output[1].detach().clone()


@contextmanager
def record_attention(modules: Sequence[torch.nn.Module]) -> Iterator[dict[int, torch.Tensor]]:
    store: dict[int, torch.Tensor] = {}
    handles = [m.register_forward_hook(partial(_keep_probs, store, i)) for i, m in enumerate(modules)]
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


@contextmanager
def record_calls(modules: Sequence[torch.nn.Module]) -> Iterator[dict[int, tuple]]:
    """Keeps each module's positional inputs and its output of the last call (detached
    copies): calls[layer] = (inputs tuple, output). The glass box reads a cross-attention's
    two inputs (the words' normed states, the encoder's memory) and its joined output here."""
    store: dict[int, tuple] = {}

    def keep(i, module, args, output):
        copy = lambda t: t.detach().clone() if torch.is_tensor(t) else t    # noqa: E731
        store[i] = (tuple(copy(a) for a in args),
                    tuple(copy(o) for o in output) if isinstance(output, tuple) else copy(output))

    handles = [m.register_forward_hook(partial(keep, i)) for i, m in enumerate(modules)]
    try:
        yield store
    finally:
        for h in handles:
            h.remove()
