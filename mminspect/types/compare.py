"""Comparison results: two results of the same kind laid side by side on one aligned axis
(what `mi.compare(a, b)` returns). numpy only, validated where they are made."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .attribution import TokenAttribution
from .clip import ClipView
from .results import TextView, _as_f32, _check

def _weights(view) -> np.ndarray:
    """[layer, head, query, key]: a text view's attention, or a CLIP view's image tower on its
    first image."""
    return view.image_attention[0] if isinstance(view, ClipView) else view.attention.weights


OPS = ("same", "changed", "deleted", "inserted")   # deleted: only in A; inserted: only in B


@dataclass(frozen=True)
class Alignment:
    """Two token (or word) sequences on one axis, by edit distance.

    a_index / b_index: int [pos], the position in A / B at each aligned slot, -1 where that
    side has nothing there (a word only the other text has). ops: [pos] one of OPS.
    """

    tokens_a: list[str]
    tokens_b: list[str]
    a_index: np.ndarray
    b_index: np.ndarray
    ops: list[str]

    def __post_init__(self):
        a = np.asarray(self.a_index, dtype=np.int64)
        b = np.asarray(self.b_index, dtype=np.int64)
        object.__setattr__(self, "a_index", a)
        object.__setattr__(self, "b_index", b)
        _check(a.shape == b.shape == (len(self.ops),),
               f"Alignment: a_index {a.shape}, b_index {b.shape} and {len(self.ops)} ops must match")
        _check(sorted(a[a >= 0].tolist()) == list(range(len(self.tokens_a))),
               "Alignment.a_index must name every token of A once, in order")
        _check(sorted(b[b >= 0].tolist()) == list(range(len(self.tokens_b))),
               "Alignment.b_index must name every token of B once, in order")
        _check(all(o in OPS for o in self.ops), f"Alignment.ops must be among {OPS}")

    @property
    def both(self) -> np.ndarray:
        """bool [pos]: slots where both sides have a token."""
        return (self.a_index >= 0) & (self.b_index >= 0)

    @property
    def labels(self) -> list[str]:
        """One label per slot: the shared token, "a→b" for a change, "+b" / "−a" for a gap."""
        out = []
        for i, j, op in zip(self.a_index, self.b_index, self.ops):
            if op == "same":
                out.append(self.tokens_a[i])
            elif op == "changed":
                out.append(f"{self.tokens_a[i]}→{self.tokens_b[j]}")
            elif op == "inserted":
                out.append(f"+{self.tokens_b[j]}")
            else:
                out.append(f"−{self.tokens_a[i]}")
        return out

    @property
    def n_edits(self) -> int:
        return sum(op != "same" for op in self.ops)


@dataclass(frozen=True)
class Comparison:
    """A against B (what `mi.compare(a, b)` returns). `kind` is "text" (two TextViews),
    "attribution" (two TokenAttributions) or "image" (two ClipViews of the same prompts: the
    first image of each, its patches aligned one to one); fields of other kinds stay None.

    alignment: the tokens (text) or words (attribution) of A and B on one axis.
    layer_map: int [layer of A], the layer of B compared with each layer of A (the same layer
      when depths match, else the one at the same relative depth; `notes` says so).
    head_js: float32 [layer of A, head] mean Jensen–Shannon divergence (nats, 0..ln 2) between
      A's and B's attention rows, over the query slots both sides have; each row is laid on
      the aligned key axis (a key only one side has gets weight 0 on the other). One column
      (the mean over heads) when the two models have different numbers of heads.
    row_js: float32 [layer of A, head, pos] the same per query slot (NaN where a side is missing).
    layer_js: float32 [layer of A], the mean of head_js over heads.
    top_heads: [(layer, head, js)] the heads that changed most, largest first.
    lens_rank_a / lens_rank_b: int [layer of A, pos], the logit-lens rank of each side's own
      final top token at each (mapped) layer, -1 in gaps; None unless both results carry a lens.
    word_a / word_b / word_diff: float32 [pos], attribution per aligned word and A − B (NaN in
      gaps); attribution kind only.
    patch_a / patch_b: float32 [prompt, rows, cols], each side's relevance map of every prompt
      divided by its own largest |value| (the two models' units differ), when both views carry
      maps (`inspect_clip(..., maps=True)`); image kind only. A − B is their difference.
    prediction: sentences that say how the prediction changed; prediction_delta: the number
      behind the first one (a probability, similarity or target change), or None.
    """

    kind: str
    a: TextView | TokenAttribution | ClipView
    b: TextView | TokenAttribution | ClipView
    alignment: Alignment
    layer_map: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    head_js: np.ndarray | None = None
    row_js: np.ndarray | None = None
    layer_js: np.ndarray | None = None
    top_heads: list[tuple[int, int, float]] = field(default_factory=list)
    lens_rank_a: np.ndarray | None = None
    lens_rank_b: np.ndarray | None = None
    word_a: np.ndarray | None = None
    word_b: np.ndarray | None = None
    word_diff: np.ndarray | None = None
    patch_a: np.ndarray | None = None
    patch_b: np.ndarray | None = None
    prediction: list[str] = field(default_factory=list)
    prediction_delta: float | None = None
    notes: list[str] = field(default_factory=list)

    KINDS = ("text", "attribution", "image")

    def __post_init__(self):
        _check(self.kind in self.KINDS, f"Comparison.kind must be one of {self.KINDS}, got {self.kind!r}")
        n = len(self.alignment.ops)
        if self.kind == "image" and self.head_js is None:
            pass                                 # patch grids differ: no attention to compare
        elif self.kind in ("text", "image"):
            for name in ("head_js", "row_js", "layer_js"):
                object.__setattr__(self, name, _as_f32(getattr(self, name)))
            lm = np.asarray(self.layer_map, dtype=np.int64)
            object.__setattr__(self, "layer_map", lm)
            n_layers = len(_weights(self.a))
            _check(lm.shape == (n_layers,), f"Comparison.layer_map must be [layer of A]=({n_layers},), got {lm.shape}")
            _check(self.head_js.ndim == 2 and self.head_js.shape[0] == n_layers,
                   f"Comparison.head_js must be [layer, head], got {self.head_js.shape}")
            _check(self.row_js.shape == (*self.head_js.shape, n),
                   f"Comparison.row_js must be [layer, head, pos]={(*self.head_js.shape, n)}, got {self.row_js.shape}")
            _check(self.layer_js.shape == (n_layers,), f"Comparison.layer_js must be [{n_layers}]")
            _check(bool(np.all(self.head_js >= 0)) and bool(np.all(self.head_js <= np.log(2) + 1e-6)),
                   "Comparison.head_js must lie in [0, ln 2]")
            for name in ("lens_rank_a", "lens_rank_b"):
                r = getattr(self, name)
                if r is not None:
                    r = np.asarray(r, dtype=np.int64)
                    object.__setattr__(self, name, r)
                    _check(r.shape == (n_layers + 1, n), f"Comparison.{name} must be [layer+1, pos]")
        if self.kind == "image":
            for name in ("patch_a", "patch_b"):
                if getattr(self, name) is not None:
                    object.__setattr__(self, name, _as_f32(getattr(self, name)))
            _check((self.patch_a is None) == (self.patch_b is None) and (
                self.patch_a is None or self.patch_a.shape == self.patch_b.shape ==
                (len(self.a.prompts), self.a.grid_rows, self.a.grid_cols)),
                "Comparison.patch_a / patch_b must both be [prompt, rows, cols] or both None")
        elif self.kind == "attribution":
            for name in ("word_a", "word_b", "word_diff"):
                v = _as_f32(getattr(self, name))
                object.__setattr__(self, name, v)
                _check(v.shape == (n,), f"Comparison.{name} must be [pos]=({n},), got {v.shape}")

    @property
    def model_name(self) -> str:
        """A's model (a report's fingerprint is of A; both names are in its first table)."""
        return self.a.model_name

    @property
    def model_names(self) -> tuple[str, str]:
        return self.a.model_name, self.b.model_name

    @property
    def depths(self) -> tuple[int, int]:
        """(layers of A, layers of B) of the attention compared (0 for attributions)."""
        if self.kind == "attribution":
            return 0, 0
        return len(_weights(self.a)), len(_weights(self.b))

    def aligned_attention(self, layer: int, head: int | None) -> tuple[np.ndarray, np.ndarray]:
        """A's attention at `layer` and B's at the mapped layer, both laid on the aligned axis:
        two float32 [pos, pos] (query, key), zero where a side has no token. head None: the
        mean over heads (also what is compared when the head counts differ)."""
        _check(self.head_js is not None and self.kind != "attribution",
               "aligned_attention needs a text or image comparison with attention")
        out = []
        for view, idx, lay in ((self.a, self.alignment.a_index, layer),
                               (self.b, self.alignment.b_index, int(self.layer_map[layer]))):
            w = _weights(view)[lay]                                            # [head, q, k]
            w = w.mean(0) if head is None or self.head_js.shape[1] == 1 else w[head]
            grid = np.zeros((len(idx), len(idx)), np.float32)                  # [pos, pos]
            have = np.flatnonzero(idx >= 0)
            grid[np.ix_(have, have)] = w[np.ix_(idx[have], idx[have])]
            out.append(grid)
        return out[0], out[1]
