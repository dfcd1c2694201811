"""Results of a fusion model (image and text in ONE transformer): the joint attention, its
four blocks, a word's map over the patches, the words that read a patch, and how well each
object word's map points at its object. numpy only, validated here.

The joint sequence is text first ([CLS] and the words), then the patches in row-major
order, so for T text tokens and P patches every attention matrix [query, key] splits into
    text->text [T, T]   text->image [T, P]
    image->text [P, T]  image->image [P, P]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .results import _as_f32, _check

BLOCK_NAMES = ("text→text", "text→image", "image→text", "image→image")


@dataclass(frozen=True)
class MaskFill:
    """The model's guesses for one [MASK]: position (in `tokens`), words and their
    probabilities, best first."""

    position: int
    words: list[str]
    probs: np.ndarray

    def __post_init__(self):
        p = _as_f32(self.probs)
        object.__setattr__(self, "probs", p)
        _check(p.shape == (len(self.words),), f"MaskFill.probs must be [word]=({len(self.words)},), got {p.shape}")


@dataclass(frozen=True)
class FusionView:
    """One (image, caption) pair through a fusion model.

    tokens: [CLS] and the words (the text part of the sequence). attention: float32 [layer,
    head, query, key] over the whole sequence, text then patches (rows sum to 1). rows / cols
    / patch_size: the patch grid. image: uint8 [H, W, 3] as the model saw it. match: the
    probability that the caption fits the picture (image-text matching head). fills: one
    MaskFill per [MASK] in the caption."""

    model: str
    caption: str
    tokens: list[str]
    attention: np.ndarray
    rows: int
    cols: int
    patch_size: int
    image: np.ndarray
    match: float
    fills: list[MaskFill]

    def __post_init__(self):
        a = _as_f32(self.attention)
        object.__setattr__(self, "attention", a)
        n = len(self.tokens) + self.rows * self.cols
        _check(a.ndim == 4 and a.shape[2:] == (n, n),
               f"FusionView.attention must be [layer, head, {n}, {n}] for {len(self.tokens)} text "
               f"tokens and {self.rows}x{self.cols} patches, got {a.shape}")
        _check(np.asarray(self.image).ndim == 3, "FusionView.image must be uint8 [H, W, 3]")
        _check(0.0 <= self.match <= 1.0, f"FusionView.match must be a probability, got {self.match}")

    @property
    def n_text(self) -> int:
        return len(self.tokens)

    @property
    def n_layers(self) -> int:
        return self.attention.shape[0]

    @property
    def n_heads(self) -> int:
        return self.attention.shape[1]


@dataclass(frozen=True)
class FusionBlocks:
    """The joint attention of one layer (all heads) in its four blocks, each float32 [head,
    query, key]: text_text [head, T, T], text_image [head, T, P], image_text [head, P, T],
    image_image [head, P, P]. share: float32 [4], each block's share of all attention mass
    (rows of a block summed, over every query and head), in BLOCK_NAMES order."""

    layer: int
    tokens: list[str]
    text_text: np.ndarray
    text_image: np.ndarray
    image_text: np.ndarray
    image_image: np.ndarray

    def __post_init__(self):
        blocks = [_as_f32(b) for b in (self.text_text, self.text_image, self.image_text, self.image_image)]
        for name, b in zip(("text_text", "text_image", "image_text", "image_image"), blocks):
            object.__setattr__(self, name, b)
        t, p = len(self.tokens), blocks[3].shape[-1]
        want = [(t, t), (t, p), (p, t), (p, p)]
        for name, b, w in zip(BLOCK_NAMES, blocks, want):
            _check(b.ndim == 3 and b.shape[1:] == w, f"FusionBlocks {name} must be [head, {w[0]}, {w[1]}], got {b.shape}")

    @property
    def share(self) -> np.ndarray:
        mass = np.array([b.sum() for b in (self.text_text, self.text_image, self.image_text, self.image_image)])
        return (mass / mass.sum()).astype(np.float32)

    def joined(self) -> np.ndarray:
        """float32 [head, T + P, T + P]: the four blocks put back together."""
        top = np.concatenate([self.text_text, self.text_image], axis=2)
        bottom = np.concatenate([self.image_text, self.image_image], axis=2)
        return np.concatenate([top, bottom], axis=1)


@dataclass(frozen=True)
class WordPatchMap:
    """How much one word (query) attends to each patch (key), at one layer. per_head:
    float32 [head, rows, cols]; mean: float32 [rows, cols] (heads averaged). text_share:
    float32 [head], the part of the word's attention that stayed on the text instead (a map
    of small values means the word mostly read other words)."""

    word: str
    position: int
    layer: int
    per_head: np.ndarray
    mean: np.ndarray
    text_share: np.ndarray

    def __post_init__(self):
        h = _as_f32(self.per_head)
        object.__setattr__(self, "per_head", h)
        object.__setattr__(self, "mean", _as_f32(self.mean))
        object.__setattr__(self, "text_share", _as_f32(self.text_share))
        _check(h.ndim == 3, f"WordPatchMap.per_head must be [head, rows, cols], got {h.shape}")
        _check(self.mean.shape == h.shape[1:], f"WordPatchMap.mean must be {h.shape[1:]}, got {self.mean.shape}")
        _check(self.text_share.shape == h.shape[:1], f"WordPatchMap.text_share must be [head]={h.shape[:1]}")


@dataclass(frozen=True)
class PatchReaders:
    """Which words read one patch: the attention each text token (query) pays to the patch
    (key) at one layer. per_head: float32 [head, word]; mean: float32 [word]."""

    row: int
    col: int
    layer: int
    tokens: list[str]
    per_head: np.ndarray
    mean: np.ndarray

    def __post_init__(self):
        h = _as_f32(self.per_head)
        object.__setattr__(self, "per_head", h)
        object.__setattr__(self, "mean", _as_f32(self.mean))
        _check(h.ndim == 2 and h.shape[1] == len(self.tokens),
               f"PatchReaders.per_head must be [head, {len(self.tokens)}], got {h.shape}")
        _check(self.mean.shape == (len(self.tokens),), f"PatchReaders.mean must be [{len(self.tokens)}]")


@dataclass(frozen=True)
class WordPointing:
    """The pointing game on a fusion model's word maps, one row per (object word, layer):
    does the heads-averaged map of the word peak on its object's exact mask (hit), and which
    share of its mass lies on the mask (energy; chance = the mask's share of the image)."""

    words: list[str]
    objects: list[str]
    layers: np.ndarray
    hit: np.ndarray
    energy: np.ndarray
    chance: np.ndarray

    def __post_init__(self):
        n = len(self.words)
        for name in ("layers", "hit", "energy", "chance"):
            v = np.asarray(getattr(self, name))
            v = v.astype(bool) if name == "hit" else (v.astype(np.int64) if name == "layers" else _as_f32(v))
            object.__setattr__(self, name, v)
            _check(v.shape == (n,), f"WordPointing.{name} must be [row]=({n},), got {v.shape}")
        _check(len(self.objects) == n, "WordPointing.objects must have one entry per row")
