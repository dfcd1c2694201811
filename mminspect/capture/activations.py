"""Temporary hooks that keep modules' inputs or outputs IN the autograd graph (not copies),
for explainers that differentiate a score with respect to an intermediate tensor: LeGrad
(every block's output), Grad-ECLIP (the heads' context vectors entering the output
projection).

    with record_outputs(blocks) as outs:        # outs[i]: the LAST output of blocks[i]
        adapter.image_forward(pixels, keep_graph=True)
    torch.autograd.grad(score(outs[-1]), ...)

Every hook is removed in `finally`. Nothing here knows a family: the caller passes the
modules (found through `models.attention_sites.ATTENTION_SITES`).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import torch

from .layer_io import _first, _input_tensor


@contextmanager
def record_outputs(modules: Sequence[torch.nn.Module]) -> Iterator[dict[int, torch.Tensor]]:
    """Yields {i: the output of modules[i]} (first item of a tuple output), filled by the
    next forward, the graph's own tensors (a later call of the same module overwrites)."""
    store: dict[int, torch.Tensor] = {}
    handles = []

    def keep(i: int):
        def hook(module, args, output):
            store[i] = _first(output)
        return hook

    try:
        for i, m in enumerate(modules):
            handles.append(m.register_forward_hook(keep(i)))
        yield store
    finally:
        for h in handles:
            h.remove()


@contextmanager
def record_inputs(modules: Sequence[torch.nn.Module], every: bool = False
                  ) -> Iterator[dict[int, torch.Tensor | list[torch.Tensor]]]:
    """Yields {i: the main input of modules[i]} (its first positional tensor or the keyword
    that holds it), filled by the next forward, the graph's own tensors. every=True: {i: the
    inputs of every call, in order} (a module a forward calls twice, e.g. SigLIP's pooling
    head's out_proj, once for the pooled token and once for the patch features)."""
    store: dict[int, torch.Tensor | list[torch.Tensor]] = {}
    handles = []

    def keep(i: int):
        def hook(module, args, kwargs):
            x = _input_tensor(args, kwargs)
            if every:
                store.setdefault(i, []).append(x)
            else:
                store[i] = x
        return hook

    try:
        for i, m in enumerate(modules):
            handles.append(m.register_forward_pre_hook(keep(i), with_kwargs=True))
        yield store
    finally:
        for h in handles:
            h.remove()


def token_major(x: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """A recorded [batch, token, D] or [token, batch, D] (open_clip towers built with
    batch_first=False) tensor as [batch, token, D]."""
    if x.ndim == 3 and x.shape[1] != n_tokens and x.shape[0] == n_tokens:
        return x.transpose(0, 1)
    return x
