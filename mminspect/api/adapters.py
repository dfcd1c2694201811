"""The adapter behind a model argument: a loaded adapter as-is, or a registry name loaded."""
from __future__ import annotations

from ..models import TextAdapter, load
from ..types import InputError


def as_text_adapter(model) -> TextAdapter:
    adapter = load(model) if isinstance(model, str) else model
    if "text" not in adapter.modalities:
        raise InputError(f"{adapter.name} does not read text; choose a text model.")
    return adapter


def as_adapter_of(model, cls: type, refusal: str):
    """The adapter behind `model` if it is a `cls`; else InputError("<name> <refusal>")."""
    adapter = load(model) if isinstance(model, str) else model
    if not isinstance(adapter, cls):
        raise InputError(f"{getattr(adapter, 'name', model)!r} {refusal}")
    return adapter
