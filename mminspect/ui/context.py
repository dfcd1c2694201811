"""What every tab needs to know about the app: defaults and limits, decided once."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .. import api

# family -> what its models read (the picker shows each tab the models it can use)
FAMILY_MODALITY = {"hf_text": "text", "miniclip": "image", "hf_clip": "image", "open_clip": "image"}


@dataclass(frozen=True)
class AppContext:
    models: list[dict] = field(default_factory=list)       # list_models() rows + "modality"
    bundled: frozenset[str] = frozenset()
    unavailable: frozenset[str] = frozenset()              # listed, but not openable offline
    allow_custom_models: bool = True
    model_concurrency: int = 1                             # model events running at once
    max_chars: int = api.MAX_CHARS
    example_text: str = "The cat sat on the mat because it was warm."
    example_compare: str = "A kitten was lying on the rug."
    example_labels: str = "animals, weather, finance"


def default_context() -> AppContext:
    """From the registry and the environment. MMINSPECT_ALLOW_CUSTOM_MODELS=0 hides the
    free-text model box (public hosting: only the curated list can be loaded)."""
    rows = [{**m, "modality": FAMILY_MODALITY.get(m["family"], "text")} for m in api.list_models()]
    allow = os.environ.get("MMINSPECT_ALLOW_CUSTOM_MODELS", "1").strip().lower() not in ("0", "false", "no")
    workers = int(os.environ.get("MMINSPECT_MODEL_WORKERS", "1"))
    return AppContext(models=rows, bundled=frozenset(m["name"] for m in rows if m["bundled"]),
                      unavailable=frozenset(api.unavailable_models()), allow_custom_models=allow,
                      model_concurrency=max(1, workers))
