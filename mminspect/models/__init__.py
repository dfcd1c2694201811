"""Model adapters (one per family) and the registry that loads them."""
from .base import Encoded, Internals, ModelAdapter, TextAdapter
from .registry import REGISTRY, list_models, load

__all__ = ["REGISTRY", "Encoded", "Internals", "ModelAdapter", "TextAdapter", "list_models", "load"]
