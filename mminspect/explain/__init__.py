"""Explanations computed from model outputs: attention statistics, rollout, similarity."""
from .attention import head_summary, rollout
from .similarity import cosine, softmax

__all__ = ["cosine", "head_summary", "rollout", "softmax"]
