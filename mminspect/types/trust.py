"""Can I trust this map? The sanity check of a method on a model (cascading model
randomisation, Adebayo et al. 2018), the agreement between methods on one input, and the
plain caveats shown next to a map. numpy only, validated where they are made."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .results import _as_f32, _check


@dataclass(frozen=True)
class SanityCheck:
    """One method's map as the model's blocks are re-initialised from the top down.

    steps: a label per step ("trained", "top 1 of 6 blocks random", ...); n_random: int
    [step], blocks random at that step (0 = the trained model). maps: float32 [step, feature],
    the map at each step (tokens without the special ones, or image patches). spearman /
    spearman_abs: float32 [step], the rank correlation of each step's map (signed scores /
    |scores|) with the trained map (1 at step 0). half: the step with the top half of the
    blocks random. score: the mean, over the steps from `half` on, of max(spearman,
    spearman_abs); passed: score < threshold, i.e. neither the map's ranking nor its magnitude
    ranking survives once half the model (or more) is random.
    data_*: the same correlation for a random target (another label / prompt / second text)
    on the trained model (None where it does not apply); data_target names it.
    target_ignored: data_score (the larger of the two) >= data_threshold, i.e. the map hardly
    changes when the model explains an unrelated target (None where no random target ran).
    """

    method: str
    model_name: str
    modality: str                    # "text" or "image"
    target: str
    steps: list[str]
    n_random: np.ndarray
    maps: np.ndarray
    spearman: np.ndarray
    spearman_abs: np.ndarray
    half: int
    threshold: float
    passed: bool
    seed: int
    seconds: float
    data_target: str | None = None
    data_spearman: float | None = None
    data_spearman_abs: float | None = None
    notes: list[str] = field(default_factory=list)
    data_threshold: float | None = None
    target_ignored: bool | None = None

    def __post_init__(self):
        n = len(self.steps)
        _check(n >= 2, f"SanityCheck needs the trained step and at least one random step, got {n}")
        k = np.asarray(self.n_random, dtype=np.int64)
        object.__setattr__(self, "n_random", k)
        _check(k.shape == (n,) and k[0] == 0 and bool((np.diff(k) > 0).all()),
               f"SanityCheck.n_random must be [step]=({n},), 0 first and increasing, got {k}")
        m = _as_f32(self.maps)
        object.__setattr__(self, "maps", m)
        _check(m.ndim == 2 and m.shape[0] == n and m.shape[1] >= 1,
               f"SanityCheck.maps must be [step, feature] with {n} steps, got {m.shape}")
        for name in ("spearman", "spearman_abs"):
            a = _as_f32(getattr(self, name))
            object.__setattr__(self, name, a)
            _check(a.shape == (n,), f"SanityCheck.{name} must be [step]=({n},), got {a.shape}")
            _check(bool((np.abs(a) <= 1 + 1e-5).all()), f"SanityCheck.{name} must lie in [-1, 1]")
        _check(0 < self.half < n, f"SanityCheck.half must be a random step (1..{n - 1}), got {self.half}")
        _check(self.modality in ("text", "image"), f"modality must be text or image, got {self.modality!r}")

    @property
    def n_features(self) -> int:
        return int(self.maps.shape[1])

    @property
    def score(self) -> float:
        """The number `passed` compares with the threshold (see the class docstring)."""
        worst = np.maximum(self.spearman, self.spearman_abs)[self.half:]     # [step >= half]
        return float(worst.mean())

    @property
    def data_score(self) -> float | None:
        """The random target's correlation, the larger of signed and |scores| (None: none ran)."""
        vals = [v for v in (self.data_spearman, self.data_spearman_abs) if v is not None]
        return max(vals) if vals else None


@dataclass(frozen=True)
class MethodAgreement:
    """Rank correlations between the maps of several methods on one input.

    methods: identifiers, one per row/column. matrix / matrix_abs: float32 [method, method],
    Spearman of the signed scores / of |scores| (1 on the diagonal). n_features: tokens
    (special ones left out) or image patches compared."""

    methods: list[str]
    matrix: np.ndarray
    matrix_abs: np.ndarray
    n_features: int

    def __post_init__(self):
        n = len(self.methods)
        _check(n >= 1, "MethodAgreement needs at least one method")
        for name in ("matrix", "matrix_abs"):
            a = _as_f32(getattr(self, name))
            object.__setattr__(self, name, a)
            _check(a.shape == (n, n), f"MethodAgreement.{name} must be [method, method]=({n}, {n}), "
                                      f"got {a.shape}")
            _check(bool(np.allclose(a, a.T, atol=1e-5)), f"MethodAgreement.{name} must be symmetric")


@dataclass(frozen=True)
class Caveat:
    """One plain warning next to a map: what was measured, why it matters, what to do.

    code: a stable identifier ("completeness", "deletion", "small_gap", "sanity").
    value: the measured number behind it (None if none applies)."""

    code: str
    title: str
    why: str
    instead: str
    value: float | None = None

    def __post_init__(self):
        _check(bool(self.code) and bool(self.title), "Caveat needs a code and a title")

    @property
    def sentence(self) -> str:
        return f"{self.title}: {self.why} {self.instead}"
