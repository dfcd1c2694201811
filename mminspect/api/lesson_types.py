"""The values lessons and their measures share: a lesson's starting state, a measure's
answer, and the error a bad lesson file raises. Apart from lessons.py so that the measures
(lesson_measures.py) and the lesson reader import them without importing each other."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..types import InputError


class LessonError(InputError):
    """A lesson file that cannot be used: the message names the file and the field."""


@dataclass(frozen=True)
class LessonState:
    model: str
    text: str
    panel: str
    layer: int = 0
    head: int = 0
    query: str | None = None
    tower: str = "text"
    example: str | None = None
    compare_to: str | None = None


@dataclass(frozen=True)
class Measured:
    """A measure's answer. answer: the right choice (one of `choices`); value: the number
    behind it; text: that number in a sentence; evidence: what the panel draws (a HeadTrace,
    a HeadSummary, a ClipView, per-token series...)."""

    answer: str
    value: float
    text: str
    choices: tuple[str, ...]
    evidence: dict = field(default_factory=dict)
