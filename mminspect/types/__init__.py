"""Result values shared by every layer (numpy only)."""
from .attribution import AttributionComparison, Faithfulness, TokenAttribution
from .errors import InputError, ModelLoadError
from .results import (AttentionMaps, HeadSummary, LogitLens, Rollout, TextPrediction, TextView,
                      TokenChoices)

__all__ = ["AttentionMaps", "AttributionComparison", "Faithfulness", "HeadSummary", "InputError", "LogitLens", "ModelLoadError", "Rollout",
           "TextPrediction", "TextView", "TokenAttribution", "TokenChoices"]
