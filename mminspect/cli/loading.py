"""Opening a model from the command line: the library's load, refused at once where it
could only wait for an unreachable hub (every command uses it)."""
from __future__ import annotations

from pathlib import Path

from .. import api
from ..types import ModelLoadError


def load_model(name: str):
    """api.load, but a hub id that is neither cached here nor reachable is refused at once
    (from_pretrained would retry the network for half a minute before saying so)."""
    from ..api.availability import hub_reachable, in_local_cache
    from ..models.registry import REGISTRY
    entry = REGISTRY.get(name)
    source = entry["source"] if entry else name
    if not source.startswith("bundled:") and not Path(name).expanduser().exists():
        if not in_local_cache(source) and not hub_reachable():
            raise ModelLoadError(
                f"{name!r} is not in this machine's Hugging Face cache and the hub cannot be "
                "reached (HF_HUB_OFFLINE is set, or no network). Use a bundled model ("
                + ", ".join(bundled_models()) + "), a local folder, or run once where the hub "
                "is reachable to cache it.")
    return api.load(name)


def bundled_models() -> list[str]:
    """The registry's bundled (offline) models, in its order."""
    return [m["name"] for m in api.list_models() if m["bundled"]]
