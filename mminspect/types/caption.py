"""Results of the cross-attention captioner (an image encoder and a text decoder that reads
it): the caption written step by step, where each step read the image (cross-attention, per
layer and head), what it read of the earlier words (self-attention), and the logit lens over
the decoder's layers. numpy only, validated here.

Step t WROTE `steps[t]` after reading `read[t]` ([START], then the caption shifted right by
one), so row t of every matrix is the step that wrote `steps[t]`: its cross-attention row is
"the patches this word was written from".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .results import _as_f32, _check
from .seq2seq import DecoderLens, _rows_sum_to_one

END = "[END]"


@dataclass(frozen=True)
class CaptionView:
    """One image through the captioner.

    steps: [T] the tokens written, [END] last when the caption ended; read: [T] the token each
    step read; given: how many first steps were given by the user (forced), not chosen;
    probs: float32 [T], the probability the model gave each written token; cross: float32
    [layer, head, T, patch] (rows sum to 1); self_attention: float32 [layer, head, T, T]
    (causal, rows sum to 1); lens: the logit lens over the decoder layers [layer, T, k];
    rows / cols / patch_size: the patch grid; image: uint8 [H, W, 3] as the model saw it."""

    model: str
    steps: list[str]
    read: list[str]
    given: int
    probs: np.ndarray
    cross: np.ndarray
    self_attention: np.ndarray
    lens: DecoderLens
    rows: int
    cols: int
    patch_size: int
    image: np.ndarray

    def __post_init__(self):
        for name in ("probs", "cross", "self_attention"):
            object.__setattr__(self, name, _as_f32(getattr(self, name)))
        t, p = len(self.steps), self.rows * self.cols
        _check(t >= 1 and len(self.read) == t, f"CaptionView: {t} steps need {t} read tokens, got {len(self.read)}")
        _check(0 <= self.given <= t, f"CaptionView.given must be in 0..{t}, got {self.given}")
        _check(self.probs.shape == (t,), f"CaptionView.probs must be [step]=({t},), got {self.probs.shape}")
        c, s = self.cross, self.self_attention
        _check(c.ndim == 4 and c.shape[2:] == (t, p),
               f"CaptionView.cross must be [layer, head, {t}, {p}], got {c.shape}")
        _check(s.shape == (*c.shape[:2], t, t), f"CaptionView.self_attention must be {(*c.shape[:2], t, t)}, got {s.shape}")
        _rows_sum_to_one(c, "CaptionView.cross")
        _rows_sum_to_one(s, "CaptionView.self_attention")
        ahead = float(np.triu(s, k=1).max()) if t > 1 else 0.0            # weight on later words
        _check(ahead <= 1e-6, f"CaptionView.self_attention must be causal: a step puts {ahead:.2g} "
               "on a word after its own")
        _check(self.lens.top_ids.shape[:2] == (c.shape[0], t),
               f"CaptionView.lens must be [layer, step, k] with {c.shape[0]} layers and {t} steps")
        _check(np.asarray(self.image).ndim == 3, "CaptionView.image must be uint8 [H, W, 3]")

    @property
    def n_layers(self) -> int:
        return self.cross.shape[0]

    @property
    def n_heads(self) -> int:
        return self.cross.shape[1]

    @property
    def ended(self) -> bool:
        return self.steps[-1] == END

    @property
    def words(self) -> list[str]:
        """The caption's words ([END] left out)."""
        return self.steps[:-1] if self.ended else list(self.steps)

    @property
    def text(self) -> str:
        return " ".join(self.words).replace(" ,", ",")
