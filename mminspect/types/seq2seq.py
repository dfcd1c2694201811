"""Results of an encoder–decoder (T5-style) model: the encoder's self-attention over the
source, the decoder's self-attention over what it has written, and the decoder's
cross-attention, where each written token reads the encoder's source tokens. numpy only.

Row t of the decoder's matrices is the step that WROTE `target_tokens[t]`; that step read
`decoder_tokens[t]` (the start token, then the target shifted right by one).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .results import _as_f32, _check

ROW_SUM_TOLERANCE = 1e-3     # float32 softmax rows sum to 1 within ~1e-6; 1e-3 catches a wrong axis


def _rows_sum_to_one(a: np.ndarray, what: str) -> None:
    sums = a.sum(-1)                                                     # [layer, head, query]
    worst = float(np.abs(sums - 1.0).max()) if sums.size else 0.0
    _check(worst <= ROW_SUM_TOLERANCE,
           f"{what}: every row must sum to 1 over its keys (worst is off by {worst:.2g}); "
           "were the query and key axes swapped?")


def lens_arrays(lens, positions: str) -> np.ndarray:
    """Give a lens's top_ids / top_probs / target_probs their dtypes (in place on the frozen
    result) and check top_ids, top_probs and top_tokens agree: [layer, `positions`, k].
    Returns top_ids."""
    name = type(lens).__name__
    ids = np.asarray(lens.top_ids, dtype=np.int64)
    object.__setattr__(lens, "top_ids", ids)
    object.__setattr__(lens, "top_probs", _as_f32(lens.top_probs))
    object.__setattr__(lens, "target_probs", _as_f32(lens.target_probs))
    _check(ids.ndim == 3 and lens.top_probs.shape == ids.shape,
           f"{name}.top_probs {lens.top_probs.shape} must match top_ids [layer, {positions}, k] {ids.shape}")
    _check(np.shape(np.asarray(lens.top_tokens, dtype=object)) == ids.shape,
           f"{name}.top_tokens must be [layer][{positions}][k]={ids.shape}")
    return ids


@dataclass(frozen=True)
class DecoderLens:
    """The logit lens over the decoder: each layer's residual stream read through the
    model's own final norm and output head, as if the decoder stopped there.

    top_ids: int [layer, T, k] the k likeliest next tokens after each decoder layer, at each
    target position (best first); top_tokens: their display strings [layer][T][k];
    top_probs: float32 [layer, T, k]; target_probs: float32 [layer, T], the probability of
    the target token actually written (or given) there. The last layer is the model's output.
    """

    top_ids: np.ndarray
    top_tokens: list[list[list[str]]]
    top_probs: np.ndarray
    target_probs: np.ndarray

    def __post_init__(self):
        ids = lens_arrays(self, "T")
        _check(self.target_probs.shape == ids.shape[:2],
               f"DecoderLens.target_probs must be [layer, T]={ids.shape[:2]}, got {self.target_probs.shape}")


@dataclass(frozen=True)
class CrossAttentionView:
    """One source text through an encoder–decoder, with its target written or given.

    source_tokens: [S] what the encoder read (the end token </s> included).
    target_tokens: [T] what the decoder wrote (generated) or was given (teacher-forced).
    decoder_tokens: [T] what each decoder step read (start token, then target shifted right).
    target_ids: [T] the target's token ids. generated: True if the model wrote the target.
    stopped: "end" (it wrote </s>), "max_new_tokens" (it hit the cap) or "given".
    encoder_attention: float32 [layer, head, S, S].
    decoder_attention: float32 [layer, head, T, T] (causal: nothing after the query).
    cross_attention: float32 [layer, head, T, S]: target token -> source token.
    lens: the logit lens over the decoder layers (a DecoderLens), when asked for.
    """

    model: str
    source_text: str
    source_tokens: list[str]
    target_tokens: list[str]
    decoder_tokens: list[str]
    target_ids: list[int]
    generated: bool
    stopped: str
    encoder_attention: np.ndarray
    decoder_attention: np.ndarray
    cross_attention: np.ndarray
    lens: DecoderLens | None = None

    def __post_init__(self):
        enc, dec, cross = (_as_f32(self.encoder_attention), _as_f32(self.decoder_attention),
                           _as_f32(self.cross_attention))
        object.__setattr__(self, "encoder_attention", enc)
        object.__setattr__(self, "decoder_attention", dec)
        object.__setattr__(self, "cross_attention", cross)
        s, t = len(self.source_tokens), len(self.target_tokens)
        _check(len(self.decoder_tokens) == t == len(self.target_ids),
               f"CrossAttentionView: {t} target tokens, {len(self.decoder_tokens)} decoder tokens "
               f"and {len(self.target_ids)} target ids must be as many")
        _check(enc.ndim == 4 and enc.shape[2:] == (s, s),
               f"CrossAttentionView.encoder_attention must be [layer, head, {s}, {s}], got {enc.shape}")
        _check(dec.ndim == 4 and dec.shape[2:] == (t, t),
               f"CrossAttentionView.decoder_attention must be [layer, head, {t}, {t}], got {dec.shape}")
        _check(cross.shape == dec.shape[:2] + (t, s),
               f"CrossAttentionView.cross_attention must be [layer, head, {t}, {s}] with the "
               f"decoder's layers and heads {dec.shape[:2]}, got {cross.shape}")
        _check(self.stopped in ("end", "max_new_tokens", "given"),
               f"CrossAttentionView.stopped must be 'end', 'max_new_tokens' or 'given', got {self.stopped!r}")
        for a, what in ((enc, "encoder_attention"), (dec, "decoder_attention"), (cross, "cross_attention")):
            _rows_sum_to_one(a, f"CrossAttentionView.{what}")
        ahead = float(np.triu(dec, k=1).max()) if t > 1 else 0.0   # weight on later tokens
        _check(ahead <= 1e-6, f"CrossAttentionView.decoder_attention must be causal: a step puts "
               f"{ahead:.2g} on a token after its own")
        _check(self.lens is None or self.lens.target_probs.shape == (dec.shape[0], t),
               f"CrossAttentionView.lens must cover [layer, T]={(dec.shape[0], t)}")

    @property
    def n_layers(self) -> int:
        """Decoder layers (the cross-attention's)."""
        return self.cross_attention.shape[0]

    @property
    def n_heads(self) -> int:
        return self.cross_attention.shape[1]

    def read_by(self, target_index: int, layer: int = -1) -> np.ndarray:
        """float32 [head, S]: how much the step that wrote target token `target_index` read
        each source token, head by head, in one decoder layer (default: the last)."""
        return self.cross_attention[layer, :, target_index, :]
