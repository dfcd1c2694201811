"""Where a CLIP-style tower's blocks, attention projections and output head live, for the
explainers that open the last layers up (LeGrad, Grad-ECLIP, the dense last-layer maps).

The block internals come from `models.attention_sites.ATTENTION_SITES` (one row per tower
of each family, shared with the glass-box views) and the image tower's output head (final norm
and projection, which LeGrad applies to every layer's tokens) from `models.arch.IMAGE_HEADS`:
both derive from the family's one spec in models/arch.py.

    site = image_site(adapter)            # blocks, pre-norms, attention-out modules, weights
    head = image_head(adapter)            # tokens [n, width] -> embedding [embed]
"""
from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter

import torch

from ..models.attention_sites import (ATTENTION_SITES, LayerWeights, n_heads_of,
                                      read_layer_weights, scale_of)
from ..models.arch import IMAGE_HEADS, tower_key
from ..models.clip_base import CLIPAdapter
from ..types import InputError


class NotAvailable(InputError):
    """The method needs a part of the tower this family's table does not name."""


@dataclass(frozen=True)
class TowerSite:
    """One tower's layers: blocks (block i's output is the residual stream after layer i),
    the spec row they were found with, and the module that is the tower's root."""

    key: str
    spec: dict
    root: torch.nn.Module

    @property
    def blocks(self) -> list[torch.nn.Module]:
        return list(attrgetter(self.spec["blocks"])(self.root))

    def pre_norm(self, layer: int) -> torch.nn.Module | None:
        """The LayerNorm whose output is the attention's input; None for post-LN (BERT)."""
        path = self.spec["pre_norm"]
        return None if path is None else self.blocks[layer].get_submodule(path)

    def out_hook(self, layer: int) -> torch.nn.Module:
        """The module whose output is the attention output (all heads + output bias)."""
        return self.blocks[layer].get_submodule(self.spec["out_hook"])

    def out_projection(self, layer: int) -> torch.nn.Module:
        """The output projection itself: its INPUT is the heads' context vectors [.., D]."""
        kind, path = self.spec["out"]
        m = self.blocks[layer].get_submodule(path)
        return m.out_proj if kind == "mha" else m

    def weights(self, layer: int) -> LayerWeights:
        return read_layer_weights(self.blocks[layer], self.spec)

    def heads(self, layer: int) -> int:
        return n_heads_of(self.blocks[layer], self.spec)

    def scale(self, layer: int) -> float:
        w = self.weights(layer)
        return scale_of(self.blocks[layer], self.spec, w.W_q.shape[1] // self.heads(layer))

    @property
    def batch_first(self) -> bool:
        return bool(getattr(getattr(self.root, "transformer", None), "batch_first", True))


def _site(key: str, owner, name: str, tower: str) -> TowerSite:
    spec = ATTENTION_SITES.get(key)
    if spec is None:
        raise NotAvailable(f"{name}: this method opens the {tower} tower's last layers, and "
                           f"models/arch.py has no spec {key!r} for it. Choose a "
                           "model of a known family (HF CLIP, open_clip ViT, mini-CLIP).")
    try:
        root = attrgetter(spec["root"])(owner)
    except AttributeError as e:
        raise NotAvailable(f"{name}: the {tower} tower is not where {key!r} says "
                           f"({spec['root']}): {e}") from e
    return TowerSite(key, spec, root)


def image_site(adapter: CLIPAdapter) -> TowerSite:
    return _site(f"{adapter.family}/image", adapter, adapter.name, "image")


def text_site(adapter: CLIPAdapter) -> TowerSite:
    """The text tower's site; a tower that is a text adapter (mini-CLIP's frozen MiniLM) is
    found through that adapter's own row (models.arch.tower_key)."""
    owner, key = tower_key(adapter, "text")
    return _site(key, owner, adapter.name, "text")


def image_head(adapter: CLIPAdapter):
    """tokens [n, width] -> one embedding [embed]: the tower's summary of a layer's tokens
    as LeGrad reads it (see models.arch.ArchSpec.image_head)."""
    row = IMAGE_HEADS.get(adapter.family)
    if row is None:
        raise NotAvailable(f"{adapter.name}: models/arch.py names no image output head for "
                           f"family {adapter.family!r}; add its final norm and projection.")
    norm = attrgetter(row["norm"])(adapter)
    proj = None if row["proj"] is None else attrgetter(row["proj"])(adapter)
    pool = None if row["pool"] == "mean" else attrgetter(row["pool"])(adapter)

    def head(tokens: torch.Tensor) -> torch.Tensor:                    # [n, width]
        if pool is None:
            z = norm(tokens.mean(0))                                    # [width]
        else:
            z = pool(norm(tokens)[None])[0]                             # [width]
        if proj is None:
            return z
        return proj(z) if isinstance(proj, torch.nn.Module) else z @ proj   # [embed]

    return head
