"""The models we know, as data, and the one process-wide cache of loaded adapters.

A name maps to a family (which adapter class opens it), a source (where its weights are)
and a label for people. `load()` also takes a local folder of a Hugging Face checkpoint.
"""
from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path

from ..types import ModelLoadError
from .base import ModelAdapter
from .bundled import MINILM_SHA256, minilm_dir, verify_sha256

# name -> family, source, label, and the adapter's keyword options.
REGISTRY: dict[str, dict] = {
    "minilm": {
        "family": "hf_text",
        "source": "bundled:minilm",
        "label": "all-MiniLM-L6-v2 · sentence embeddings (bundled, offline)",
        "options": {"kind": "embedding", "pooling": "mean", "normalize": True},
    },
}

# family -> "module:Class", imported on first use so the app starts without every library.
FAMILIES: dict[str, str] = {
    "hf_text": "mminspect.models.hf_text:HFTextAdapter",
}

_CACHE: dict[str, ModelAdapter] = {}
_LOCK = threading.Lock()


def list_models() -> list[dict]:
    """[{name, family, label}] for the registered models, bundled ones first."""
    return [{"name": k, "family": v["family"], "label": v["label"]} for k, v in REGISTRY.items()]


def _resolve_source(source: str) -> str:
    if source == "bundled:minilm":
        path = minilm_dir()
        verify_sha256(path / "model.safetensors", MINILM_SHA256)
        return str(path)
    return source


def _adapter_class(family: str):
    module, cls = FAMILIES[family].split(":")
    return getattr(importlib.import_module(module), cls)


def load(name: str) -> ModelAdapter:
    """A loaded model adapter, from the cache after the first call for the same name."""
    if not isinstance(name, str) or not name.strip():
        raise ModelLoadError("No model named. Choose one of: " + ", ".join(REGISTRY))
    name = name.strip()
    with _LOCK:  # one load at a time: two users asking for one model must not load it twice
        if name in _CACHE:
            return _CACHE[name]
        if name in REGISTRY:
            entry = REGISTRY[name]
            family, path, label, options = (entry["family"], _resolve_source(entry["source"]),
                                            entry["label"], entry["options"])
        elif Path(name).is_dir():
            family, path, label, options = "hf_text", name, f"{Path(name).name} (local folder)", {}
        else:
            raise ModelLoadError(f"Unknown model {name!r}. Known models: {', '.join(REGISTRY)}; "
                                 "or pass the path of a local folder holding a Hugging Face model.")
        try:
            adapter = _adapter_class(family)(name=name, path=path, label=label, **options)
        except ModelLoadError:
            raise
        except (OSError, ValueError) as e:
            offline = os.environ.get("HF_HUB_OFFLINE") == "1"
            raise ModelLoadError(f"Could not load {name!r}: {e}. "
                                 + ("The hub is offline here; " if offline else "")
                                 + f"the bundled models always work: {', '.join(REGISTRY)}.") from e
        _CACHE[name] = adapter
        return adapter
