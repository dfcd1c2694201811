"""Temporary hooks for causal experiments on attention heads and the residual stream.

A head's context vector [token, d_head] enters the model only through the attention output
projection, as slice h of its input [batch, token, head * d_head]. So a forward PRE-hook on
that projection can remove a head (zeros), replace it (its mean over positions) or copy it
from another run (patching), without touching the attention code of any family. Each batch
item gets its own edit, so one batched forward runs many experiments at once.

Every hook lives inside a context manager and is removed in `finally`. The caller passes the
modules (the api finds them through `models.families.HEAD_SITES`); nothing here knows a family.

    with edit_heads(out_projs, n_heads, select, values):   # select[layer]: bool [batch, head]
        outputs = model(...)                                # values[layer]: [b|1, token|1, head, d_head]
"""
from __future__ import annotations

from contextlib import contextmanager

import torch


def _first_arg(args: tuple) -> torch.Tensor:
    if not args or not torch.is_tensor(args[0]):
        raise RuntimeError("The attention output projection was called without a positional "
                           "input tensor; this family needs another ablation site.")
    return args[0]


def _split(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """[batch, token, head * d_head] -> [batch, token, head, d_head] (a view)."""
    if x.shape[-1] % n_heads:
        raise RuntimeError(f"The projection's input width {x.shape[-1]} is not a multiple of "
                           f"{n_heads} heads.")
    return x.view(*x.shape[:-1], n_heads, x.shape[-1] // n_heads)


@contextmanager
def capture_head_inputs(out_projs: list[torch.nn.Module], n_heads: int):
    """Yields {layer: [batch, token, head, d_head]}, filled by the next forward: each head's
    context vector as it enters the output projection (a detached copy)."""
    store: dict[int, torch.Tensor] = {}
    handles = []

    def make(layer: int):
        def hook(module, args):
            store[layer] = _split(_first_arg(args), n_heads).detach().clone()
        return hook

    try:
        for layer, proj in enumerate(out_projs):
            handles.append(proj.register_forward_pre_hook(make(layer)))
        yield store
    finally:
        for h in handles:
            h.remove()


@contextmanager
def edit_heads(out_projs: list[torch.nn.Module], n_heads: int,
               select: dict[int, torch.Tensor], values: dict[int, torch.Tensor]):
    """Replace chosen heads' context vectors during the forwards inside the block.

    select[layer]: bool [batch, head], True where that item's head is replaced (layers not
    in `select` are untouched). values[layer]: what replaces it, broadcastable to
    [batch, token, head, d_head]: zeros (zero ablation), a mean over positions [1, 1, head,
    d_head] (mean ablation) or another run's contexts [1, token, head, d_head] (patching).
    """
    handles = []

    def make(layer: int):
        chosen = select[layer][:, None, :, None]                     # [batch, 1, head, 1]
        value = values[layer]

        def hook(module, args):
            x = _first_arg(args)                                      # [batch, token, head * d_head]
            heads = _split(x, n_heads)                                # [batch, token, head, d_head]
            if heads.shape[0] not in (1, chosen.shape[0]):   # one item broadcasts to all
                raise RuntimeError(f"The edit is for a batch of {chosen.shape[0]}, the forward "
                                   f"has {heads.shape[0]} items.")
            edited = torch.where(chosen, value.to(heads.dtype), heads)  # [batch, token, head, d_head]
            return (edited.flatten(-2), *args[1:])                    # [batch, token, head * d_head]
        return hook

    try:
        for layer in sorted(select):
            handles.append(out_projs[layer].register_forward_pre_hook(make(layer)))
        yield
    finally:
        for h in handles:
            h.remove()


def _hidden(output):
    """A block's output is a tensor (transformers 5) or a tuple whose first item is."""
    return output[0] if isinstance(output, tuple) else output


@contextmanager
def capture_residual(blocks: list[torch.nn.Module]):
    """Yields {layer: [batch, token, d_model]}: each block's output hidden states (the
    residual stream after that layer), filled by the next forward."""
    store: dict[int, torch.Tensor] = {}
    handles = []

    def make(layer: int):
        def hook(module, args, output):
            store[layer] = _hidden(output).detach().clone()
        return hook

    try:
        for layer, block in enumerate(blocks):
            handles.append(block.register_forward_hook(make(layer)))
        yield store
    finally:
        for h in handles:
            h.remove()


@contextmanager
def patch_residual(blocks: list[torch.nn.Module], select: dict[int, torch.Tensor],
                   values: dict[int, torch.Tensor]):
    """Overwrite the residual stream after chosen layers, per batch item and position.

    select[layer]: bool [batch, token], True where the item's position takes the value;
    values[layer]: [1 | batch, token, d_model] (the clean run's residual stream)."""
    handles = []

    def make(layer: int):
        chosen = select[layer][:, :, None]                            # [batch, token, 1]
        value = values[layer]

        def hook(module, args, output):
            h = _hidden(output)                                       # [batch, token, d_model]
            patched = torch.where(chosen, value.to(h.dtype), h)       # [batch, token, d_model]
            return (patched, *output[1:]) if isinstance(output, tuple) else patched
        return hook

    try:
        for layer in sorted(select):
            handles.append(blocks[layer].register_forward_hook(make(layer)))
        yield
    finally:
        for h in handles:
            h.remove()
