"""The fusion model (image and text in one transformer) for the UI, the CLI and notebooks:

    view = inspect_fusion("fusion", image, "a [MASK] star left of a cat")
    view.match, view.fills[0].words                # does it fit; what fills the blank
    explain.fusion.split_blocks(view, layer=3)     # text->text, text->image, image->text, image->image
    explain.fusion.word_patch_map(view, "star", layer=3)
    fusion_pointing(view, masks)                   # each object word's map against its exact mask
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..explain.fusion import (block_shares, patch_readers, split_blocks, word_patch_map,  # noqa: F401 - re-exported
                              word_pointing)
from ..fusion import words as W
from ..fusion.model import FusionConfig
from ..models.fusion_adapter import FusionAdapter, fusion_dir, read_card
from ..types import InputError, ModelLoadError
from ..types.fusion import FusionView, MaskFill, WordPointing
from .adapters import as_adapter_of
from .examples import list_examples, load_example

TOP_K = 5


def as_fusion(model) -> FusionAdapter:
    return as_adapter_of(model, FusionAdapter, "is not a fusion model (image and text in one "
                         "transformer); choose 'fusion'.")


def model_shape(source: str = "bundled:fusion") -> tuple[int, int]:
    """(layers, heads) of the shipped fusion model, from its card (no weights are loaded); the
    default configuration's when the card is missing (the tab then says so on Run)."""
    try:
        cfg = read_card(fusion_dir(source))["config"]
    except ModelLoadError:
        return FusionConfig.depth, FusionConfig.heads
    return int(cfg["depth"]), int(cfg["heads"])


def inspect_fusion(model, image, caption: str, top_k: int = TOP_K) -> FusionView:
    """One (image, caption) pair through a fusion model: the matching probability, the best
    words for every [MASK], and the joint attention of every layer and head."""
    adapter = as_fusion(model)
    seen, tokens, pixels, ids = adapter.inputs(image, caption)
    match, words, attns = adapter.forward(pixels, ids)
    vocab = adapter.vocabulary()
    probs = words[0].cpu().numpy()                                      # [token, vocab]
    fills = []
    for pos in (i for i, t in enumerate(tokens) if t == W.MASK):
        best = np.argsort(-probs[pos])[:top_k]
        fills.append(MaskFill(position=pos, words=[vocab[i] for i in best], probs=probs[pos, best]))
    attention = np.stack([a[0].cpu().numpy() for a in attns])           # [layer, head, query, key]
    cfg = adapter.cfg
    return FusionView(model=adapter.name, caption=" ".join(caption.split()), tokens=tokens,
                      attention=attention, rows=cfg.grid, cols=cfg.grid, patch_size=cfg.patch,
                      image=seen, match=float(match[0]), fills=fills)


@dataclass(frozen=True)
class FusionExample:
    """A world scene the app can show: its image, a caption naming its objects, and the exact
    mask of each object by its phrase ("a red triangle")."""

    title: str
    image: np.ndarray
    caption: str
    masks: dict[str, np.ndarray]


def list_fusion_examples() -> list[str]:
    """The world scenes shipped with mini-CLIP 2 (rendered in advance: no emoji font needed)."""
    return [t for t in list_examples() if t.startswith("mini-CLIP 2")]


def fusion_example(title: str) -> FusionExample:
    if title not in list_fusion_examples():
        raise InputError(f"Unknown example {title!r}; choose one of: {', '.join(list_fusion_examples())}.")
    ex = load_example(title)
    phrases = list(ex.masks)
    caption = ", ".join(phrases[:-1]) + " and " + phrases[-1] if len(phrases) > 1 else phrases[0]
    return FusionExample(title=title.replace("mini-CLIP 2", "world scene"),
                         image=np.asarray(ex.image.convert("RGB")), caption=caption,
                         masks={p: np.asarray(m, bool) for p, m in ex.masks.items()})


def object_word(phrase: str) -> str:
    """The word that names the object in a phrase: 'a red triangle' -> 'triangle'."""
    named = [t for t in W.tokenize(phrase) if W.role_of(t) in ("shape", "thing")]
    if not named:
        raise InputError(f"{phrase!r} names no shape or thing the fusion model knows.")
    return named[-1]


def fusion_pointing(view: FusionView, masks: dict[str, np.ndarray]) -> WordPointing:
    """Every layer's pointing game for each object the caption names: the object word's
    heads-averaged patch map against the exact mask of the object (masks: phrase -> bool
    [H, W] at the model's input size). Objects the caption does not name are left out."""
    named = []
    for phrase, mask in masks.items():
        word = object_word(phrase)
        if word in view.tokens:
            named.append((view.tokens.index(word), phrase, mask))
    return word_pointing(view, named)
