"""Result values: small dataclasses of numpy arrays and strings, no torch.

Each `__post_init__` checks shapes, so a wrong result fails where it is made, with the
shapes in the message, not three layers later in a figure.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


def _as_f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


@dataclass(frozen=True)
class AttentionMaps:
    """Attention probabilities of every layer and head for one input.

    weights: float32 [layer, head, query, key]; each row sums to 1 (over keys).
    tokens: display strings, one per position. special: bool [token], True for [CLS]/[SEP]/...
    causal: True for decoder models (keys after the query are masked out).
    """

    weights: np.ndarray
    tokens: list[str]
    special: np.ndarray
    causal: bool = False

    def __post_init__(self):
        w = _as_f32(self.weights)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "special", np.asarray(self.special, dtype=bool))
        _check(w.ndim == 4, f"AttentionMaps.weights must be [layer, head, query, key], got shape {w.shape}")
        _check(w.shape[2] == w.shape[3] == len(self.tokens),
               f"AttentionMaps: query/key sizes {w.shape[2:]} must both equal the {len(self.tokens)} tokens")
        _check(self.special.shape == (len(self.tokens),),
               f"AttentionMaps.special must be [token]={len(self.tokens)}, got {self.special.shape}")

    @property
    def n_layers(self) -> int:
        return self.weights.shape[0]

    @property
    def n_heads(self) -> int:
        return self.weights.shape[1]


@dataclass(frozen=True)
class HeadSummary:
    """Per-head statistics, each float32 [layer, head], averaged over query positions.

    entropy: nats of each attention row. distance: mean |query - key| in positions, weighted.
    special/self_/previous/first: share of attention going to special tokens / the query
    itself / the token just before the query / the first token (decoders' "attention sink").
    """

    entropy: np.ndarray
    distance: np.ndarray
    special: np.ndarray
    self_: np.ndarray
    previous: np.ndarray
    first: np.ndarray

    METRICS = ("entropy", "distance", "special", "self_", "previous", "first")

    def __post_init__(self):
        shape = _as_f32(self.entropy).shape
        for name in self.METRICS:
            a = _as_f32(getattr(self, name))
            object.__setattr__(self, name, a)
            _check(a.ndim == 2 and a.shape == shape,
                   f"HeadSummary.{name} must be [layer, head] like entropy {shape}, got {a.shape}")


@dataclass(frozen=True)
class Rollout:
    """Attention rollout (Abnar & Zuidema 2020): float32 [query, key] after the whole stack.

    Rows sum to 1; row i says how much of position i's final representation traces back to
    each input token.
    """

    weights: np.ndarray
    tokens: list[str]

    def __post_init__(self):
        w = _as_f32(self.weights)
        object.__setattr__(self, "weights", w)
        _check(w.ndim == 2 and w.shape == (len(self.tokens),) * 2,
               f"Rollout.weights must be [{len(self.tokens)}, {len(self.tokens)}], got {w.shape}")


@dataclass(frozen=True)
class TokenChoices:
    """The top-k tokens a model proposes at one position, with probabilities (descending).

    position: index into the inspected tokens (a [MASK], or the last token for next-token).
    tokens: display strings [k]; ids: int [k]; probs: float32 [k].
    """

    position: int
    tokens: list[str]
    ids: np.ndarray
    probs: np.ndarray

    def __post_init__(self):
        p = _as_f32(self.probs)
        object.__setattr__(self, "probs", p)
        object.__setattr__(self, "ids", np.asarray(self.ids, dtype=np.int64))
        _check(p.shape == self.ids.shape == (len(self.tokens),),
               f"TokenChoices: {len(self.tokens)} tokens need ids and probs of that length, "
               f"got {self.ids.shape} and {p.shape}")
        _check(bool(np.all(np.diff(p) <= 1e-7)), "TokenChoices.probs must be sorted, highest first")


@dataclass(frozen=True)
class TextPrediction:
    """What the model predicts for the text; the fields that apply to its kind are filled.

    kind: "embedding" (sentence embeddings), "classifier", "masked_lm" or "causal_lm".
    embedding: similarity = cosine to `compare_to`, or None; labels/label_scores/label_probs =
      zero-shot scores (cosine to each label) and their softmax at `temperature`.
    classifier: labels = the classes, label_scores = logits, label_probs = softmax (temperature 1).
    masked_lm: fills = the top fillers of each [MASK]. causal_lm: fills = [the next-token
      choices], continuation = the greedy continuation's text.
    """

    kind: str
    compare_to: str | None = None
    similarity: float | None = None
    labels: list[str] = field(default_factory=list)
    label_scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    label_probs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    temperature: float = 0.05
    fills: list[TokenChoices] = field(default_factory=list)
    continuation: str | None = None

    KINDS = ("embedding", "classifier", "masked_lm", "causal_lm")

    def __post_init__(self):
        _check(self.kind in self.KINDS, f"TextPrediction.kind must be one of {self.KINDS}, got {self.kind!r}")
        s, p = _as_f32(self.label_scores), _as_f32(self.label_probs)
        object.__setattr__(self, "label_scores", s)
        object.__setattr__(self, "label_probs", p)
        _check(s.shape == p.shape == (len(self.labels),),
               f"TextPrediction: {len(self.labels)} labels need scores and probs of that length, "
               f"got {s.shape} and {p.shape}")
        if len(self.labels):
            _check(abs(float(p.sum()) - 1.0) < 1e-4, f"label_probs must sum to 1, got {p.sum()}")


@dataclass(frozen=True)
class TextView:
    """Everything one forward pass tells about a text (what `mi.inspect_text` returns).

    hidden_norms: float32 [layer + 1, token], the L2 norm of each position's residual stream
    after the embeddings (row 0) and after each layer. offsets: int [token, 2] character spans
    in `text` ((0, 0) for special tokens). n_dropped: tokens cut off by the model's limit.
    lens: the layer-by-layer predictions, when asked for (`inspect_text(..., logit_lens=True)`).
    """

    text: str
    model_name: str
    attention: AttentionMaps
    hidden_norms: np.ndarray
    offsets: np.ndarray
    prediction: TextPrediction
    n_dropped: int = 0
    max_tokens: int = 512
    notes: list[str] = field(default_factory=list)
    lens: LogitLens | None = None

    def __post_init__(self):
        n = len(self.attention.tokens)
        h = _as_f32(self.hidden_norms)
        object.__setattr__(self, "hidden_norms", h)
        _check(h.shape == (self.attention.n_layers + 1, n),
               f"TextView.hidden_norms must be [layer+1, token]=({self.attention.n_layers + 1}, {n}), "
               f"got {h.shape}")
        o = np.asarray(self.offsets, dtype=np.int64)
        object.__setattr__(self, "offsets", o)
        _check(o.shape == (n, 2), f"TextView.offsets must be [token, 2]=({n}, 2), got {o.shape}")
        _check(self.n_dropped >= 0, f"n_dropped must be >= 0, got {self.n_dropped}")
        _check(self.lens is None or self.lens.tokens == self.attention.tokens,
               "TextView.lens must be computed on the same tokens as the attention")

    @property
    def tokens(self) -> list[str]:
        return self.attention.tokens


@dataclass(frozen=True)
class LogitLens:
    """What the model would predict after each layer (nostalgebraist's "logit lens"): each
    layer's residual stream through the model's own final norm and output head.

    tokens: the input's display tokens. layer_names: [layer + 1] ("embeddings", "layer 0"...).
    top_tokens: [layer + 1][token][k] display strings; top_probs: float32 [layer + 1, token, k].
    final_rank: int [layer + 1, token], the rank (0 = top) at each layer of the token the last
    layer ranks first. The last row is the model's own output.
    """

    tokens: list[str]
    layer_names: list[str]
    top_tokens: list[list[list[str]]]
    top_probs: np.ndarray
    final_rank: np.ndarray
    head: str = "lm_head"

    def __post_init__(self):
        p = _as_f32(self.top_probs)
        object.__setattr__(self, "top_probs", p)
        r = np.asarray(self.final_rank, dtype=np.int64)
        object.__setattr__(self, "final_rank", r)
        n_layers, n = len(self.layer_names), len(self.tokens)
        _check(p.ndim == 3 and p.shape[:2] == (n_layers, n),
               f"LogitLens.top_probs must be [layer+1, token, k]=({n_layers}, {n}, k), got {p.shape}")
        _check(r.shape == (n_layers, n), f"LogitLens.final_rank must be ({n_layers}, {n}), got {r.shape}")
        _check(len(self.top_tokens) == n_layers and all(len(row) == n for row in self.top_tokens),
               "LogitLens.top_tokens must be [layer+1][token][k]")
        _check(bool(np.all(r[-1] == 0)), "LogitLens: the last layer must rank its own top token first")
