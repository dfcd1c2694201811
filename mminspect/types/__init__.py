"""Result values shared by every layer (numpy only)."""
from .errors import InputError, ModelLoadError
from .results import AttentionMaps, HeadSummary, Rollout, TextPrediction, TextView

__all__ = ["AttentionMaps", "HeadSummary", "InputError", "ModelLoadError", "Rollout",
           "TextPrediction", "TextView"]
