"""Cascading model randomisation (Adebayo et al. 2018, "Sanity checks for saliency maps"):
re-initialise a model's blocks from the top down, one more at each step, on a COPY.

    clone = model_copy(adapter)                             # the cached model is never touched
    blocks = tower_blocks(clone, "text")                    # bottom -> top
    for k in range(1, len(blocks) + 1):
        randomize_block(blocks[-k], seed + k)                # now the top k blocks are random

Why a copy: the cached model is shared by every user and every tab; a sanity check must not
change what anyone else sees, even for a moment. Deep-copying MiniLM is ~90 MB.

How a block is re-initialised (one rule for every family, so no family's private init code
is needed): every weight matrix (ndim >= 2) is drawn from N(0, s^2) where s is the trained
tensor's own standard deviation, so activations keep their trained scale and a map that
changes cannot be blamed on values exploding or vanishing; norm gains become 1 and every
other vector (biases) 0, the standard initialisation. Seeded per block: the same seed gives
the same random model.
"""
from __future__ import annotations

import copy
import operator

import torch
from torch import nn

# where each CLIP family's / text model's blocks are: written once, in models/arch.py
from ...models.arch import IMAGE_BLOCKS, TEXT_BLOCKS, TEXT_MODELS


def model_copy(adapter):
    """A copy of the adapter whose networks (every nn.Module or tensor attribute: the model,
    open_clip's text tower inside it) are deep-copied together, so references between them
    stay consistent, while everything else is shared, read-only: the tokenizer, the image
    transform, mini-CLIP's text tower (another adapter: the image check leaves it alone).
    The copy gets its own lock (api.exclusive), not the cached model's."""
    clone = copy.copy(adapter)
    memo: dict = {}
    for name, value in vars(adapter).items():
        if isinstance(value, (nn.Module, torch.Tensor)):
            setattr(clone, name, copy.deepcopy(value, memo))
    vars(clone).pop("_mminspect_lock", None)
    return clone


def copy_bytes(adapter) -> int:
    """Bytes of what `model_copy` copies: every parameter and buffer of the adapter's networks,
    each counted once (the deep copy shares a tensor reached twice, so this does too)."""
    seen: dict[tuple, int] = {}
    for value in vars(adapter).values():
        if isinstance(value, nn.Module):
            tensors = [*value.parameters(), *value.buffers()]
        elif isinstance(value, torch.Tensor):
            tensors = [value]
        else:
            continue
        for t in tensors:
            key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
            seen[key] = t.numel() * t.element_size()
    return int(sum(seen.values()))


def tower_blocks(adapter, tower: str) -> list[nn.Module]:
    """The blocks (layers) of one tower, bottom to top. tower: "text" or "image"."""
    family = getattr(adapter, "family", "")
    if tower == "image":
        path = IMAGE_BLOCKS.get(family)
    elif family in TEXT_BLOCKS:
        path = TEXT_BLOCKS[family]
    else:                                               # a Hugging Face text model
        row = TEXT_MODELS.get(getattr(adapter, "model_type", ""))
        path = None if row is None else f"{row['root']}.{row['blocks']}"
    if path is None:
        raise NotImplementedError(f"{getattr(adapter, 'name', adapter)}: the sanity check does "
                                  f"not know where this model's {tower} blocks are "
                                  f"(family {family!r}).")
    blocks = operator.attrgetter(path)(adapter)
    return list(blocks)


def _is_norm(module: nn.Module) -> bool:
    return "norm" in type(module).__name__.lower()


@torch.no_grad()
def randomize_block(block: nn.Module, seed: int) -> None:
    """Re-initialise every parameter of `block` in place (see the module's docstring)."""
    gen = torch.Generator().manual_seed(int(seed))
    for module in block.modules():
        for name, p in module.named_parameters(recurse=False):
            if p.ndim >= 2:
                std = float(p.float().std()) or 0.02
                fresh = torch.randn(p.shape, generator=gen) * std
                p.copy_(fresh.to(p.device, p.dtype))
            elif _is_norm(module) and name == "weight":
                p.fill_(1.0)
            else:
                p.zero_()
