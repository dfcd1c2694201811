"""Results of causal experiments: what removing a head, or copying an activation from another
input, does to one target value. Numpy only; shapes checked where the result is made."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .results import _as_f32, _check

ABLATION_MODES = {"zero": "the head's context vector set to zeros",
                  "mean": "the head's context vector replaced by its mean over the input's positions"}
PATCH_SITES = ("residual", "heads")


@dataclass(frozen=True)
class HeadAblation:
    """The target before and after removing `heads` (all at once) from one forward pass.

    heads: ((layer, head), ...). mode: "zero" | "mean". mean_over: what the mean is taken
    over ("the input's positions"), "" for zero ablation. delta = after - before."""

    before: float
    after: float
    delta: float
    heads: tuple[tuple[int, int], ...]
    mode: str
    target: str
    mean_over: str = ""
    tokens: tuple[str, ...] = ()
    model_name: str = ""

    def __post_init__(self):
        object.__setattr__(self, "heads", tuple((int(a), int(b)) for a, b in self.heads))
        _check(self.mode in ABLATION_MODES,
               f"HeadAblation.mode must be one of {tuple(ABLATION_MODES)}, got {self.mode!r}")
        _check(abs((self.after - self.before) - self.delta) <= 1e-6 * max(1.0, abs(self.delta)),
               f"HeadAblation.delta {self.delta} must equal after - before "
               f"({self.after} - {self.before})")
        _check((self.mode == "mean") == bool(self.mean_over),
               "HeadAblation.mean_over says what the mean is over: set it for mode='mean' only")


@dataclass(frozen=True)
class HeadImportance:
    """Each head ablated alone: delta float32 [layer, head] = target after - before.

    Negative delta: the head supports the target. seconds: the batched scan's wall time;
    batch_size: items per forward (one head per item)."""

    delta: np.ndarray
    before: float
    mode: str
    target: str
    seconds: float
    batch_size: int
    mean_over: str = ""
    tokens: tuple[str, ...] = ()
    model_name: str = ""

    def __post_init__(self):
        d = _as_f32(self.delta)
        object.__setattr__(self, "delta", d)
        _check(d.ndim == 2, f"HeadImportance.delta must be [layer, head], got shape {d.shape}")
        _check(self.mode in ABLATION_MODES,
               f"HeadImportance.mode must be one of {tuple(ABLATION_MODES)}, got {self.mode!r}")

    def top(self, k: int) -> list[tuple[int, int]]:
        """The k heads whose removal lowers the target most, as (layer, head)."""
        order = np.argsort(self.delta, axis=None, kind="stable")[:k]
        return [tuple(int(i) for i in np.unravel_index(j, self.delta.shape)) for j in order]


@dataclass(frozen=True)
class ActivationPatching:
    """Fraction of the clean-corrupted gap restored by copying one activation from the clean
    run into the corrupted one: restored = (patched - corrupted) / (clean - corrupted).

    site "residual": restored float32 [layer, position] (the residual stream after that layer
    at that position); site "heads": [layer, head] (that head's context at every position).
    tokens: the clean text's tokens (the corrupted text's are `corrupted_tokens`)."""

    restored: np.ndarray
    site: str
    clean_value: float
    corrupted_value: float
    target: str
    tokens: tuple[str, ...]
    corrupted_tokens: tuple[str, ...]
    seconds: float
    model_name: str = ""

    def __post_init__(self):
        r = _as_f32(self.restored)
        object.__setattr__(self, "restored", r)
        _check(self.site in PATCH_SITES,
               f"ActivationPatching.site must be one of {PATCH_SITES}, got {self.site!r}")
        _check(r.ndim == 2, f"ActivationPatching.restored must be 2-D, got shape {r.shape}")
        _check(len(self.tokens) == len(self.corrupted_tokens),
               f"ActivationPatching: {len(self.tokens)} clean tokens vs "
               f"{len(self.corrupted_tokens)} corrupted; patching needs aligned positions")
        if self.site == "residual":
            _check(r.shape[1] == len(self.tokens),
                   f"ActivationPatching.restored must be [layer, position] with "
                   f"{len(self.tokens)} positions, got {r.shape}")


@dataclass(frozen=True)
class ClipHeadAblation:
    """Heads of one tower of a CLIP-style model (tower "image", or "text": removed from every
    prompt's encoding) removed together: every prompt's logit and probability (softmax over
    the prompts) before and after, each float32 [prompt]. mean_over: what a "mean" ablation
    averages over ("the image's tokens", "each prompt's own tokens")."""

    logits_before: np.ndarray
    logits_after: np.ndarray
    probs_before: np.ndarray
    probs_after: np.ndarray
    prompts: tuple[str, ...]
    heads: tuple[tuple[int, int], ...]
    mode: str
    tower: str = "image"
    mean_over: str = ""
    model_name: str = ""

    def __post_init__(self):
        n = len(self.prompts)
        for name in ("logits_before", "logits_after", "probs_before", "probs_after"):
            a = _as_f32(getattr(self, name))
            object.__setattr__(self, name, a)
            _check(a.shape == (n,), f"ClipHeadAblation.{name} must be [prompt]={n}, got {a.shape}")
        _check(self.mode in ABLATION_MODES,
               f"ClipHeadAblation.mode must be one of {tuple(ABLATION_MODES)}, got {self.mode!r}")
        _check(self.tower in ("image", "text"),
               f"ClipHeadAblation.tower must be 'image' or 'text', got {self.tower!r}")

    @property
    def delta_prob(self) -> np.ndarray:
        return self.probs_after - self.probs_before             # [prompt]

    @property
    def delta_logit(self) -> np.ndarray:
        return self.logits_after - self.logits_before           # [prompt]
