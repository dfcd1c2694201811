"""What every tab needs to know about the app: defaults and limits, decided once."""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import api
from .hosting import custom_models_allowed, env_int


@dataclass(frozen=True)
class AppContext:
    models: list[dict] = field(default_factory=list)       # list_models() rows + "modality"
    bundled: frozenset[str] = frozenset()
    unavailable: frozenset[str] = frozenset()              # listed, but not openable offline
    allow_custom_models: bool = True
    model_concurrency: int = 1                             # model events running at once
    max_chars: int = field(default_factory=lambda: api.limits().max_chars)
    example_text: str = "The cat sat on the mat because it was warm."
    example_compare: str = "A kitten was lying on the rug."
    example_labels: str = "animals, weather, finance"


def default_context() -> AppContext:
    """From the registry and the environment. The free-text model box is on locally and off
    on a public server unless MMINSPECT_ALLOW_CUSTOM_MODELS=1 (see hosting.py);
    MMINSPECT_MODEL_WORKERS: model events at once (default 1 on a CPU, 2 on a GPU)."""
    rows = api.list_models()        # each row says its modality: the tabs show the models they can use
    allow = custom_models_allowed()
    workers = env_int("MMINSPECT_MODEL_WORKERS", api.default_model_workers())
    return AppContext(models=rows, bundled=frozenset(m["name"] for m in rows if m["bundled"]),
                      unavailable=frozenset(api.unavailable_models()), allow_custom_models=allow,
                      model_concurrency=max(1, workers))
