"""Temporary hooks around one layer's attention: read what goes in and what comes out
(`capture_layer_io`), replace every layer's attention output by another computation
(`replace_attention`), or zero a module's output (`zero_output`, e.g. position embeddings).

Every hook lives inside a context manager and is removed in `finally`. The caller passes the
modules (the api finds them through `models.attention_sites.ATTENTION_SITES`); nothing here
knows a family.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch

_INPUT_NAMES = ("hidden_states", "x", "q_x", "query", "input")


def _input_tensor(args: tuple, kwargs: dict) -> torch.Tensor:
    """A module's main input: its first positional tensor, or the keyword that holds it."""
    if args and torch.is_tensor(args[0]):
        return args[0]
    for name in _INPUT_NAMES:
        if torch.is_tensor(kwargs.get(name)):
            return kwargs[name]
    raise RuntimeError("The layer was called without an input tensor this capture recognises.")


def _first(output) -> torch.Tensor:
    """A module's output is a tensor or a tuple whose first item is the one we want."""
    return output[0] if isinstance(output, tuple) else output


@contextmanager
def capture_layer_io(block: torch.nn.Module, pre_norm: torch.nn.Module | None,
                     out_module: torch.nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """Yields a dict filled by the next forward through `block` (detached copies):
    "residual" [batch, token, D] the block's input; "x" [batch, token, D] the attention's input
    (the pre-norm's output; = residual without one); "attn_out" [batch, token, D] the output of
    `out_module` (the attention output: every head plus the output bias)."""
    store: dict[str, torch.Tensor] = {}
    handles = []

    def on_block(module, args, kwargs):
        store["residual"] = _input_tensor(args, kwargs).detach().clone()
        if pre_norm is None:
            store["x"] = store["residual"]

    def on_norm(module, args, output):
        store["x"] = _first(output).detach().clone()

    def on_out(module, args, output):
        store["attn_out"] = _first(output).detach().clone()

    try:
        handles.append(block.register_forward_pre_hook(on_block, with_kwargs=True))
        if pre_norm is not None:
            handles.append(pre_norm.register_forward_hook(on_norm))
        handles.append(out_module.register_forward_hook(on_out))
        yield store
    finally:
        for h in handles:
            h.remove()


# compute(layer, x [token, D]) -> the replacement attention output [token, D]
Replacement = Callable[[int, torch.Tensor], torch.Tensor]


@contextmanager
def replace_attention(blocks: list[torch.nn.Module], pre_norms: list[torch.nn.Module | None],
                      out_modules: list[torch.nn.Module], compute: Replacement,
                      batch_first: bool = True):
    """Inside the block, every layer's attention output is `compute(layer, x)`, where x is
    that layer's own attention input in THIS forward (so a broken layer feeds the next one).

    Hooks: a pre-hook on each block (or a hook on its pre-norm) keeps x; a forward hook on the
    output module returns the replacement in the output's place (a tuple keeps its other
    items). Batch items are computed one at a time (each [token, D])."""
    xs: dict[int, torch.Tensor] = {}
    handles = []

    def keep_block_input(layer: int):
        def hook(module, args, kwargs):
            xs[layer] = _input_tensor(args, kwargs)
        return hook

    def keep_norm_output(layer: int):
        def hook(module, args, output):
            xs[layer] = _first(output)
        return hook

    def swap(layer: int):
        def hook(module, args, output):
            x = xs.pop(layer)                                         # [batch, token, D]
            if not batch_first:
                x = x.transpose(0, 1)                                 # [batch, token, D]
            new = torch.stack([compute(layer, item) for item in x])   # [batch, token, D]
            if not batch_first:
                new = new.transpose(0, 1)                             # [token, batch, D]
            new = new.to(_first(output).dtype)
            return (new, *output[1:]) if isinstance(output, tuple) else new
        return hook

    try:
        for layer, (block, norm, out) in enumerate(zip(blocks, pre_norms, out_modules)):
            if norm is None:
                handles.append(block.register_forward_pre_hook(keep_block_input(layer),
                                                                with_kwargs=True))
            else:
                handles.append(norm.register_forward_hook(keep_norm_output(layer)))
            handles.append(out.register_forward_hook(swap(layer)))
        yield
    finally:
        for h in handles:
            h.remove()


@contextmanager
def zero_output(module: torch.nn.Module):
    """Inside the block, `module` outputs zeros of its usual shape (e.g. position embeddings
    left out of the sum)."""
    handle = module.register_forward_hook(lambda m, args, output: torch.zeros_like(output))
    try:
        yield
    finally:
        handle.remove()


def hook_count(module: torch.nn.Module) -> int:
    """Forward hooks and pre-hooks on `module` and its children (tests compare before and after)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())
