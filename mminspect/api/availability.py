"""Which listed models can be opened right now: bundled ones always; hub checkpoints only if
the hub is reachable or they are already in the local cache. The model picker uses this to
mark "not available offline" instead of listing a model that would only fail."""
from __future__ import annotations

import functools
import os
import socket
import threading

from ..models.registry import REGISTRY

HUB_HOST = ("huggingface.co", 443)


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 1.5) -> bool:
    """False when HF_HUB_OFFLINE is set or a TCP connection to the hub fails (asked once per
    process: a server's network does not come and go between page loads)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes"):
        return False
    try:
        socket.create_connection(HUB_HOST, timeout=timeout).close()
        return True
    except OSError:
        return False


def _hub_repo(source: str) -> tuple[str, str] | None:
    """(repo id, a file that a usable cached copy holds) for a registry source."""
    if source.startswith("open_clip:"):
        import open_clip.pretrained as ocp   # its own table says which hub repo holds the tag
        arch, _, tag = source.removeprefix("open_clip:").partition("/")
        repo = ocp.get_pretrained_cfg(arch, tag).get("hf_hub", "").rstrip("/")
        return (repo, "open_clip_config.json") if repo else None
    return source, "config.json"


def in_local_cache(source: str) -> bool:
    if source.startswith("bundled:"):
        return True
    from huggingface_hub import try_to_load_from_cache
    found = _hub_repo(source)
    return found is not None and isinstance(try_to_load_from_cache(*found), str)


def available_offline() -> dict[str, bool]:
    """name -> whether the listed model can be opened without the hub."""
    return {name: in_local_cache(entry["source"]) for name, entry in REGISTRY.items()}


def unavailable_models() -> set[str]:
    """Listed models that cannot be opened here now (hub unreachable and not cached)."""
    if hub_reachable():
        return set()
    return {name for name, ok in available_offline().items() if not ok}


def default_model_workers() -> int:
    """How many model events may run at once when the host says nothing: 1 on a CPU (two
    requests would only split the same cores), 2 on a GPU (one can prepare while the other
    computes)."""
    import torch
    return 2 if torch.cuda.is_available() else 1


_LOCKS_GUARD = threading.Lock()


def exclusive(model) -> threading.RLock:
    """The lock of one loaded model: `with api.exclusive(model): ...` around work on it.

    Why: captum's layer methods and our attention captures put temporary hooks and patches
    on the shared model; another request's forward pass in the meantime would run through
    them. Requests on *different* models still run side by side (MMINSPECT_MODEL_WORKERS)."""
    with _LOCKS_GUARD:
        lock = getattr(model, "_mminspect_lock", None)
        if lock is None:
            lock = threading.RLock()
            object.__setattr__(model, "_mminspect_lock", lock)
        return lock
