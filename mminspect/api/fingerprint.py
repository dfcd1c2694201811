"""Which weights produced a result, as a hash a reader can compare (for reports and records).

Bundled models: the SHA-256 of the weights file, checked at every load. Any loaded model:
the SHA-256 of its weights as loaded (every tensor of the state dict, in name order, as
float32 bytes), so a hub model or a folder is identified even without its files."""
from __future__ import annotations

import weakref

import torch

from ..models import load
from ..models.bundled import MINILM_SHA256, tensors_sha256

_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def weights_sha256(module: torch.nn.Module) -> str:
    return tensors_sha256(module.state_dict().items())


def model_fingerprint(model) -> dict[str, str]:
    """{"name", "file_sha256" (bundled models), "weights_sha256" (as loaded)}."""
    adapter = load(model) if isinstance(model, str) else model
    if adapter not in _CACHE:
        out = {"name": adapter.name}
        if adapter.name == "minilm":
            out["file_sha256"] = MINILM_SHA256
        elif (getattr(adapter, "card", None) or {}).get("weights"):   # a bundled mini-CLIP's card
            out["file_sha256"] = adapter.card["weights"]["sha256"]
        out["weights_sha256"] = weights_sha256(adapter.model)
        _CACHE[adapter] = out
    return dict(_CACHE[adapter])
