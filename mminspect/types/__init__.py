"""Result values shared by every layer (numpy only)."""
from .attribution import AttributionComparison, Faithfulness, TokenAttribution
from .callbacks import Progress, StopCheck
from .compare import Alignment, Comparison
from .causal import ActivationPatching, ClipHeadAblation, HeadAblation, HeadImportance
from .clip import ClipView, PixelAttribution, PromptExplanations, PromptText
from .errors import Cancelled, InputError, ModelLoadError, OverBudget
from .trust import Caveat, MethodAgreement, SanityCheck
from .seq2seq import CrossAttentionView
from .trace import AttentionCheck, BrokenAttention, EmbeddingTrace, HeadTrace
from .results import (AttentionMaps, HeadSummary, LogitLens, Rollout, TextPrediction, TextView,
                      TokenChoices)

__all__ = ["CrossAttentionView", "Alignment", "Comparison", "Caveat", "MethodAgreement", "SanityCheck", "AttentionCheck", "BrokenAttention", "EmbeddingTrace", "HeadTrace", "ActivationPatching", "ClipHeadAblation", "HeadAblation", "HeadImportance", "AttentionMaps", "AttributionComparison", "Cancelled", "ClipView", "PixelAttribution",
           "PromptExplanations", "PromptText", "Faithfulness", "HeadSummary", "InputError", "LogitLens", "ModelLoadError", "OverBudget", "Progress", "Rollout", "StopCheck",
           "TextPrediction", "TextView", "TokenAttribution", "TokenChoices"]
