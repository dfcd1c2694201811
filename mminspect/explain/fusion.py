"""Reading a fusion model's joint attention: its four blocks, a word's map over the patches, the
words that read a patch, and the pointing game of each object word's map against the exact
mask of its object. Pure functions of a `FusionView` (numpy only; no model runs here).

The sequence is text first (T tokens: [CLS] and the words), then the P = rows * cols patches,
so for one layer and head the attention matrix [query, key] is four blocks:
    A = | text->text   text->image  |      rows: who reads (queries)
        | image->text  image->image |      columns: who is read (keys)
A word's patch map is its row of the text->image block, laid out on the grid. A patch's
readers are its column of the text->image block (which words read it).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..models.clip_base import PatchGrid
from ..types import InputError
from ..types.fusion import FusionBlocks, FusionView, PatchReaders, WordPatchMap, WordPointing
from .pointing import energy_in_mask, mask_fraction, pointing_hit


def _layer(view: FusionView, layer: int) -> np.ndarray:
    if not -view.n_layers <= layer < view.n_layers:
        raise InputError(f"Layer {layer} does not exist: the model has layers 0-{view.n_layers - 1}.")
    return view.attention[layer]                                        # [head, query, key]


def split_blocks(view: FusionView, layer: int) -> FusionBlocks:
    """The four blocks of one layer's joint attention (every head)."""
    a, t = _layer(view, layer), view.n_text                             # [head, query, key]
    return FusionBlocks(layer=layer % view.n_layers, tokens=list(view.tokens),
                        text_text=a[:, :t, :t], text_image=a[:, :t, t:],
                        image_text=a[:, t:, :t], image_image=a[:, t:, t:])


def block_shares(view: FusionView) -> np.ndarray:
    """float32 [layer, 4]: at each layer, each block's share of the attention mass (queries
    and heads summed), in BLOCK_NAMES order. Rows of the joint matrix sum to 1, so the text
    rows give T and the image rows P per head."""
    return np.stack([split_blocks(view, layer).share for layer in range(view.n_layers)])


def word_position(view: FusionView, word: int | str) -> int:
    """The text position of `word` (an index into view.tokens, or the first token equal to
    it, e.g. "[MASK]" or "star")."""
    if isinstance(word, str):
        if word not in view.tokens:
            raise InputError(f"{word!r} is not in the caption; its tokens are {view.tokens}.")
        return view.tokens.index(word)
    if not 0 <= word < view.n_text:
        raise InputError(f"Token {word} does not exist: the caption has tokens 0-{view.n_text - 1} "
                         f"({view.tokens}).")
    return int(word)


def word_patch_map(view: FusionView, word: int | str, layer: int) -> WordPatchMap:
    """For one word at one layer: its attention to every patch, per head and heads averaged,
    on the patch grid; and how much of its attention stayed on the text."""
    pos, a, t = word_position(view, word), _layer(view, layer), view.n_text
    to_patches = a[:, pos, t:]                                          # [head, patch]
    per_head = to_patches.reshape(-1, view.rows, view.cols)             # [head, rows, cols]
    return WordPatchMap(word=view.tokens[pos], position=pos, layer=layer % view.n_layers,
                        per_head=per_head, mean=per_head.mean(0),
                        text_share=a[:, pos, :t].sum(-1))


def patch_readers(view: FusionView, row: int, col: int, layer: int) -> PatchReaders:
    """For one patch at one layer: the attention each text token pays to it (its column of
    the text->image block), per head and heads averaged."""
    if not (0 <= row < view.rows and 0 <= col < view.cols):
        raise InputError(f"Patch ({row}, {col}) is outside the {view.rows}x{view.cols} grid.")
    a, t = _layer(view, layer), view.n_text
    col_of_patch = a[:, :t, t + row * view.cols + col]                  # [head, word]
    return PatchReaders(row=row, col=col, layer=layer % view.n_layers, tokens=list(view.tokens),
                        per_head=col_of_patch, mean=col_of_patch.mean(0))


def word_pointing(view: FusionView, named: Sequence[tuple[int, str, np.ndarray]],
                  layers: Sequence[int] | None = None) -> WordPointing:
    """The pointing game for object words. named: (token position, object name, bool mask
    [H, W] at the model's input size) per object word; every layer unless `layers` says."""
    grid = PatchGrid(rows=view.rows, cols=view.cols, patch_size=view.patch_size,
                     image_size=tuple(view.image.shape[:2]), has_cls=False)
    layers = range(view.n_layers) if layers is None else layers
    rows = []
    for pos, name, mask in named:
        mask = np.asarray(mask, bool)
        if mask.shape != view.image.shape[:2]:
            raise InputError(f"The mask of {name!r} is {mask.shape}; the image is {view.image.shape[:2]}.")
        for layer in layers:
            m = word_patch_map(view, pos, layer).mean                   # [rows, cols]
            rows.append((view.tokens[pos], name, layer % view.n_layers, pointing_hit(m, mask, grid),
                         energy_in_mask(m, mask, grid), float(mask_fraction(mask, grid).mean())))
    if not rows:
        return WordPointing([], [], np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
    w, o, layer, hit, energy, chance = zip(*rows)
    return WordPointing(list(w), list(o), np.array(layer), np.array(hit), np.array(energy), np.array(chance))
