"""What every tab needs to know about the app: defaults and limits, decided once."""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import api


@dataclass(frozen=True)
class AppContext:
    text_models: list[tuple[str, str]] = field(default_factory=list)   # (label, name) for dropdowns
    max_chars: int = api.MAX_CHARS
    example_text: str = "The cat sat on the mat because it was warm."
    example_compare: str = "A kitten was lying on the rug."
    example_labels: str = "animals, weather, finance"


def default_context() -> AppContext:
    models = [(m["label"], m["name"]) for m in api.list_models() if m["family"] == "hf_text"]
    return AppContext(text_models=models)
