"""Glass-box attention: every intermediate of one head on the real weights, the embedding sum
that feeds layer 0, and what a classic implementation mistake does. Numpy only; shapes are
checked where the result is made, so a figure never meets a half-built trace."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .results import _as_f32, _check

TOWERS = ("text", "image", "joint")      # joint: the fusion model's one sequence of words and patches


@dataclass(frozen=True)
class HeadTrace:
    """One head of one layer, step by step (T tokens, D = d_model, d = d_head):

    residual [T, D]   the block's input: the residual stream before this layer
    x        [T, D]   the attention's input (after the pre-norm for pre-LN models; = residual
                      for post-LN models such as BERT, whose LayerNorm comes after the sum)
    q, k, v  [T, d]   x @ W_q[:, head slice] + b_q[slice] (and the same for k, v)
    scores   [T, T]   q @ k.T, before scaling (query rows, key columns)
    scale    float    the factor applied to the scores (1/sqrt(d) for these models)
    mask     [T, T]   bool, True where the query may see the key (False: padding or the future)
    weights  [T, T]   softmax over keys of scores * scale, masked keys set to 0
    context  [T, d]   weights @ v
    output   [T, D]   context @ W_o[head slice, :], this head's share of the attention output
                      (the output bias is added once for all heads: `out_bias` [D])
    residual_after [T, D]  residual + every head's output + out_bias (before any post-norm)
    weights_error  max |weights - the model's own attention of this head|
    output_error   max |sum of heads' outputs + out_bias - the model's attention output|
    max_error      the larger of the two
    norm: "pre" | "post" (where the LayerNorm sits); causal: a decoder's mask
    """

    tokens: tuple[str, ...]
    layer: int
    head: int
    n_heads: int
    tower: str
    residual: np.ndarray
    x: np.ndarray
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    scores: np.ndarray
    scale: float
    mask: np.ndarray
    weights: np.ndarray
    context: np.ndarray
    output: np.ndarray
    out_bias: np.ndarray
    residual_after: np.ndarray
    weights_error: float
    output_error: float
    norm: str = "post"
    causal: bool = False
    model_name: str = ""

    def __post_init__(self):
        for name in ("residual", "x", "q", "k", "v", "scores", "weights", "context", "output",
                     "out_bias", "residual_after"):
            object.__setattr__(self, name, _as_f32(getattr(self, name)))
        object.__setattr__(self, "mask", np.asarray(self.mask, dtype=bool))
        object.__setattr__(self, "tokens", tuple(self.tokens))
        t = len(self.tokens)
        d_model = self.x.shape[-1]
        d_head = self.q.shape[-1]
        for name, shape in (("residual", (t, d_model)), ("x", (t, d_model)),
                            ("q", (t, d_head)), ("k", (t, d_head)), ("v", (t, d_head)),
                            ("scores", (t, t)), ("mask", (t, t)), ("weights", (t, t)),
                            ("context", (t, d_head)), ("output", (t, d_model)),
                            ("out_bias", (d_model,)), ("residual_after", (t, d_model))):
            got = getattr(self, name).shape
            _check(got == shape, f"HeadTrace.{name} must be {shape}, got {got}")
        _check(self.tower in TOWERS, f"HeadTrace.tower must be one of {TOWERS}, got {self.tower!r}")
        _check(self.norm in ("pre", "post"), f"HeadTrace.norm must be 'pre' or 'post', got {self.norm!r}")
        _check(0 <= self.head < self.n_heads, f"HeadTrace.head {self.head} outside 0..{self.n_heads - 1}")
        _check(self.scale > 0, f"HeadTrace.scale must be positive, got {self.scale}")

    @property
    def max_error(self) -> float:
        return max(self.weights_error, self.output_error)

    @property
    def d_head(self) -> int:
        return int(self.q.shape[-1])


@dataclass(frozen=True)
class EmbeddingTrace:
    """What enters layer 0, as a sum of parts (T tokens, D = d_model).

    parts: {name: [T, D]} in the order they are added, e.g. "word", "position", "segment"
    (text) or "patch", "position" (image; the CLS row of "patch" is the learned class vector).
    total [T, D]: their sum. after_norm [T, D]: what layer 0 receives (after the embedding
    LayerNorm where the model has one; = total otherwise). max_error: max |after_norm - the
    model's own layer-0 input|."""

    tokens: tuple[str, ...]
    tower: str
    parts: dict
    total: np.ndarray
    after_norm: np.ndarray
    max_error: float
    model_name: str = ""

    def __post_init__(self):
        object.__setattr__(self, "tokens", tuple(self.tokens))
        parts = {str(k): _as_f32(v) for k, v in self.parts.items()}
        object.__setattr__(self, "parts", parts)
        object.__setattr__(self, "total", _as_f32(self.total))
        object.__setattr__(self, "after_norm", _as_f32(self.after_norm))
        shape = (len(self.tokens), self.total.shape[-1])
        _check(self.total.shape == shape, f"EmbeddingTrace.total must be {shape}, got {self.total.shape}")
        _check(self.after_norm.shape == shape,
               f"EmbeddingTrace.after_norm must be {shape}, got {self.after_norm.shape}")
        for name, value in parts.items():
            _check(value.shape == shape, f"EmbeddingTrace.parts[{name!r}] must be {shape}, got {value.shape}")
        _check(self.tower in TOWERS, f"EmbeddingTrace.tower must be one of {TOWERS}, got {self.tower!r}")

    def norms(self) -> dict[str, np.ndarray]:
        """{part: [T]} the length of each part's vector per token (and "total")."""
        out = {k: np.linalg.norm(v, axis=-1) for k, v in self.parts.items()}
        out["total"] = np.linalg.norm(self.total, axis=-1)
        return out


@dataclass(frozen=True)
class BrokenAttention:
    """One classic mistake, run on the real weights and measured against the real model.

    variant: its registry name; description: the mistake in one sentence.
    weights_error: max |broken weights - real weights| for the traced head (0 when the
      mistake leaves the weights alone, e.g. no output projection changes only the output;
      nan when it has no per-head weights: heads not split has one big head);
    output_error: max |broken attention output - real attention output| of that layer.
    prediction: what the model predicts, said in words, real and broken; prediction_change:
      one number that says how far it moved (defined by `prediction_measure`, e.g. "1 - cosine
      of the sentence embeddings" or "change of the top token's probability"), with the broken
      attention used in every layer.
    tokens: the traced text's tokens. weights_real / weights_broken [T, T]: the traced head's
      weights, real and broken (for heads_not_split, the one big head's); output_real /
      output_broken [T, D]: the layer's attention output, real and broken (with the mistake in
      this layer only: the layer's real input). similarity_real / similarity_broken: the
      cosine similarity to `compare_to`'s sentence embedding, real and with the mistake in
      every layer (nan without compare_to or for next-token / class predictions)."""

    variant: str
    description: str
    weights_error: float
    output_error: float
    prediction_real: str
    prediction_broken: str
    prediction_change: float
    prediction_measure: str
    layer: int
    head: int
    model_name: str = ""
    tokens: tuple[str, ...] = ()
    weights_real: np.ndarray | None = None
    weights_broken: np.ndarray | None = None
    output_real: np.ndarray | None = None
    output_broken: np.ndarray | None = None
    similarity_real: float = float("nan")
    similarity_broken: float = float("nan")

    def __post_init__(self):
        object.__setattr__(self, "tokens", tuple(self.tokens))
        t = len(self.tokens)
        for name in ("weights_real", "weights_broken", "output_real", "output_broken"):
            value = getattr(self, name)
            if value is None:
                continue
            value = _as_f32(value)
            object.__setattr__(self, name, value)
            want = (t, t) if name.startswith("weights") else (t, value.shape[-1])
            _check(value.ndim == 2 and value.shape == want,
                   f"BrokenAttention.{name} must be {want} (one row per token), got {value.shape}")

    def __str__(self) -> str:
        return (f"{self.variant}: {self.description}\n"
                f"  layer {self.layer}, head {self.head}: weights error {self.weights_error:.3g}, "
                f"attention output error {self.output_error:.3g}\n"
                f"  in every layer: {self.prediction_measure} = {self.prediction_change:.3g}\n"
                f"  real: {self.prediction_real}\n  broken: {self.prediction_broken}")


@dataclass(frozen=True)
class AttentionCheck:
    """A user's attention function run on one real layer's input and weights.

    head_errors: per head, max |its output with only that head's rows of W_o (others zero, no
    bias) - the reference's output for the same arguments| (the reference, `correct_attention`,
    equals the model's attention output to 1e-5: tested per family); max_error: max |its output - the model's attention
    output|; passed: max_error <= tolerance. matches: the registry variant whose output is
    nearest to the function's ("correct_attention" when it passes), match_error its distance;
    hint: what to change, in one or two sentences."""

    model_name: str
    layer: int
    n_heads: int
    head_errors: tuple[float, ...]
    max_error: float
    tolerance: float
    passed: bool
    matches: str
    match_error: float
    hint: str

    def __post_init__(self):
        object.__setattr__(self, "head_errors", tuple(float(e) for e in self.head_errors))
        _check(len(self.head_errors) == self.n_heads,
               f"AttentionCheck.head_errors must have {self.n_heads} entries, got {len(self.head_errors)}")

    def __str__(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        heads = ", ".join(f"{e:.1e}" for e in self.head_errors)
        return (f"{verdict}: max error {self.max_error:.2e} against {self.model_name} layer "
                f"{self.layer} (tolerance {self.tolerance:.0e})\n"
                f"  per head: {heads}\n  hint: {self.hint}")
