"""Result values shared by every layer (numpy only)."""
from .attribution import AttributionComparison, Faithfulness, TokenAttribution
from .errors import InputError, ModelLoadError
from .results import AttentionMaps, HeadSummary, Rollout, TextPrediction, TextView

__all__ = ["AttentionMaps", "AttributionComparison", "Faithfulness", "HeadSummary", "InputError", "ModelLoadError", "Rollout",
           "TextPrediction", "TextView", "TokenAttribution"]
