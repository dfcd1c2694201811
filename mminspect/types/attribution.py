"""Attribution results: which tokens (and words) push a target score up or down, and the
numbers that say whether to trust the map. numpy only, validated where they are made."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .results import _as_f32, _check


@dataclass(frozen=True)
class Faithfulness:
    """Deletion / insertion curves and the completeness of a map.

    fractions: float32 [step], share of the non-special tokens removed (deletion) or put back
    (insertion), 0 -> 1. deletion / insertion: float32 [step], the target after removing /
    adding tokens in attribution order (most positive first); *_random: the same in a random
    order (mean over a few orders). deletion_area = area(random deletion - deletion),
    insertion_area = area(insertion - random insertion), both in target units; > 0 means the
    map ranks tokens better than chance. completeness_*: |sum(scores) - (f(x) - f(baseline))|,
    absolute and relative to |f(x) - f(baseline)|; None for methods without that property.
    """

    fractions: np.ndarray
    deletion: np.ndarray
    deletion_random: np.ndarray
    insertion: np.ndarray
    insertion_random: np.ndarray
    deletion_area: float
    insertion_area: float
    completeness_error: float | None = None
    completeness_relative: float | None = None

    CURVES = ("deletion", "deletion_random", "insertion", "insertion_random")

    def __post_init__(self):
        f = _as_f32(self.fractions)
        object.__setattr__(self, "fractions", f)
        _check(f.ndim == 1 and len(f) >= 2, f"Faithfulness.fractions must be [step] with >= 2 steps, got {f.shape}")
        for name in self.CURVES:
            a = _as_f32(getattr(self, name))
            object.__setattr__(self, name, a)
            _check(a.shape == f.shape, f"Faithfulness.{name} must be [step]={f.shape}, got {a.shape}")

    @property
    def area(self) -> float:
        """One number: the mean of the deletion and insertion areas (target units; higher is better)."""
        return 0.5 * (self.deletion_area + self.insertion_area)


@dataclass(frozen=True)
class TokenAttribution:
    """One attribution map over a text (what `mi.attribute_text` returns).

    scores: float32 [token], signed: > 0 pushes `target` up. offsets: int [token, 2] character
    spans in `text` ((0, 0) for special tokens). special: bool [token]; special tokens are kept
    in place in the baseline, so most methods give them 0. words / word_scores / word_offsets:
    the same map summed over the tokens of each word (float32 [word], int [word, 2]);
    token_word: int [token], the word of each token (-1 for special tokens).
    target / target_value / baseline_value: what was explained, f(x) and f(baseline).
    n_steps: IG's integration steps (None for other methods). other: the attribution of the
    second text when the target is a similarity (explained against this text).
    """

    text: str
    tokens: list[str]
    scores: np.ndarray
    offsets: np.ndarray
    special: np.ndarray
    words: list[str]
    word_scores: np.ndarray
    word_offsets: np.ndarray
    token_word: np.ndarray
    method: str
    target: str
    target_value: float
    baseline: str
    baseline_value: float
    seconds: float
    model_name: str = ""
    params: dict = field(default_factory=dict)
    n_steps: int | None = None
    faithfulness: Faithfulness | None = None
    other: TokenAttribution | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        n = len(self.tokens)
        s = _as_f32(self.scores)
        object.__setattr__(self, "scores", s)
        _check(s.shape == (n,), f"TokenAttribution.scores must be [token]=({n},), got {s.shape}; "
                                "sum over the embedding axis first.")
        _check(bool(np.isfinite(s).all()), "TokenAttribution.scores hold NaN or inf; the target "
                                           "or the model produced non-finite gradients.")
        o = np.asarray(self.offsets, dtype=np.int64)
        object.__setattr__(self, "offsets", o)
        _check(o.shape == (n, 2), f"TokenAttribution.offsets must be [token, 2]=({n}, 2), got {o.shape}")
        sp = np.asarray(self.special, dtype=bool)
        object.__setattr__(self, "special", sp)
        _check(sp.shape == (n,), f"TokenAttribution.special must be [token]=({n},), got {sp.shape}")
        m = len(self.words)
        ws = _as_f32(self.word_scores)
        wo = np.asarray(self.word_offsets, dtype=np.int64).reshape(-1, 2)
        tw = np.asarray(self.token_word, dtype=np.int64)
        object.__setattr__(self, "word_scores", ws)
        object.__setattr__(self, "word_offsets", wo)
        object.__setattr__(self, "token_word", tw)
        _check(ws.shape == (m,) and wo.shape == (m, 2),
               f"TokenAttribution: {m} words need word_scores [word] and word_offsets [word, 2], "
               f"got {ws.shape} and {wo.shape}")
        _check(tw.shape == (n,) and (tw < m).all() and (tw >= -1).all(),
               f"TokenAttribution.token_word must be [token]=({n},) with values in [-1, {m}), got {tw}")
        _check(self.seconds >= 0, f"seconds must be >= 0, got {self.seconds}")

    def view(self, level: str = "word") -> tuple[list[str], np.ndarray, np.ndarray]:
        """(labels, scores, special) at `level` "word" or "token", for figures."""
        if level == "token":
            return list(self.tokens), self.scores, self.special
        if level != "word":
            raise ValueError(f"level must be 'word' or 'token', got {level!r}")
        return list(self.words), self.word_scores, np.zeros(len(self.words), dtype=bool)


@dataclass(frozen=True)
class AttributionComparison:
    """Every method run on one input (what `mi.compare_attributions` returns)."""

    results: list[TokenAttribution]
    seconds: float

    def __post_init__(self):
        _check(len(self.results) > 0, "AttributionComparison needs at least one result.")
        texts = {r.text for r in self.results}
        _check(len(texts) == 1, f"AttributionComparison: all results must explain one text, got {len(texts)}")

    @property
    def methods(self) -> list[str]:
        return [r.method for r in self.results]
