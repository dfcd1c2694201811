"""The cross-attention captioner for the UI, the CLI and notebooks:

    view = caption_scene("fusion-caption", image)            # writes "a red star and a cat"
    view.steps, view.cross[layer, head, step]                 # each word's reads of the patches
    caption_word_map(view, step=2, layer=-1)                  # one word's map, per head and averaged
    caption_pointing(view, masks)                             # each object word's map vs its exact mask
    scene = held_out_scene(0)                                 # a card scene with its exact masks

Every map is captured by hooks (`capture.cross_attention.record_attention`) on one forward
over the written caption, after greedy decoding chose the words.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..capture.cross_attention import record_attention
from ..capture.heads import capture_residual
from ..explain.pointing import energy_in_mask, mask_fraction, pointing_hit
from ..fusion import words as W
from ..fusion.caption import END, CaptionConfig
from ..models.caption_adapter import CaptionAdapter, caption_dir, read_caption_card
from ..models.clip_base import PatchGrid
from ..types import InputError, ModelLoadError
from ..types.caption import CaptionView
from ..types.fusion import WordPatchMap, WordPointing
from ..types.seq2seq import DecoderLens
from .adapters import as_adapter_of
from .fusion import object_word

MAX_PREFIX_CHARS = 200
TOP_K = 5
HELD_OUT_SEED, HELD_OUT_STREAM, HELD_OUT_SCENES = 5200, 1, 200    # the card's two-object scenes


def as_captioner(model) -> CaptionAdapter:
    return as_adapter_of(model, CaptionAdapter, "is not the cross-attention captioner; choose "
                         "'fusion-caption'.")


def _prefix_words(prefix: str) -> list[str]:
    if not isinstance(prefix, str):
        raise InputError(f"The start of the caption must be text, got {type(prefix).__name__}.")
    if len(prefix) > MAX_PREFIX_CHARS:
        raise InputError(f"The start of the caption has {len(prefix)} characters; at most {MAX_PREFIX_CHARS}.")
    return W.tokenize(prefix) if prefix.strip() else []


@torch.no_grad()
def _greedy(adapter: CaptionAdapter, memory: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """ids [1, word] -> ids with the model's own words appended until [END] or the cap."""
    end = adapter.vocabulary().index(END)
    while ids.shape[1] < adapter.cfg.max_words and (ids.shape[1] == 1 or int(ids[0, -1]) != end):
        nxt = adapter.model.decode(ids, memory)[0][:, -1].argmax(-1)       # [1]
        ids = torch.cat([ids, nxt[:, None]], dim=1)
    return ids


def _lens(adapter: CaptionAdapter, hidden: dict[int, torch.Tensor], targets: torch.Tensor,
          top_k: int) -> DecoderLens:
    vocab = adapter.vocabulary()
    ids, probs, target = [], [], []
    for layer in range(adapter.n_layers):
        p = adapter.lens_logits(hidden[layer][0]).softmax(-1)              # [step, vocab]
        top = p.topk(top_k, dim=-1)
        ids.append(top.indices)
        probs.append(top.values)
        target.append(p.gather(-1, targets[:, None])[:, 0])               # [step]
    ids = torch.stack(ids).cpu().numpy()                                   # [layer, step, k]
    return DecoderLens(top_ids=ids, top_tokens=[[[vocab[i] for i in row] for row in layer] for layer in ids],
                       top_probs=torch.stack(probs).cpu().numpy(), target_probs=torch.stack(target).cpu().numpy())


@torch.no_grad()
def caption_scene(model, image, prefix: str = "", top_k: int = TOP_K) -> CaptionView:
    """The captioner writes a caption of `image` (greedy), starting with `prefix`'s words if
    given; every step's cross- and self-attention (per layer and head) and the logit lens."""
    adapter = as_captioner(model)
    seen = adapter.image_array(image)
    given = _prefix_words(prefix)
    memory = adapter.model.memory(adapter.pixels(seen))                    # [1, patch, d]
    ids = _greedy(adapter, memory, adapter.prefix_ids(given))              # [1, 1 + step]
    read, targets = ids[:, :-1], ids[0, 1:]
    with record_attention(adapter.cross_attention_modules()) as cross, \
            record_attention(adapter.self_attention_modules()) as selfs, \
            capture_residual(adapter.blocks()) as hidden:
        logits = adapter.model.decode(read, memory)[0][0]                  # [step, vocab]
    vocab = adapter.vocabulary()
    probs = logits.softmax(-1).gather(-1, targets[:, None])[:, 0]
    stack = lambda d: np.stack([d[i][0].cpu().numpy() for i in range(adapter.n_layers)])  # noqa: E731
    cfg = adapter.cfg
    return CaptionView(model=adapter.name, steps=[vocab[i] for i in targets.tolist()],
                       read=[vocab[i] for i in read[0].tolist()], given=len(given),
                       probs=probs.cpu().numpy(), cross=stack(cross), self_attention=stack(selfs),
                       lens=_lens(adapter, hidden, targets, top_k), rows=cfg.grid, cols=cfg.grid,
                       patch_size=cfg.patch, image=seen)


def model_shape(source: str = "bundled:fusion-caption") -> tuple[int, int]:
    """(decoder layers, heads) of the shipped captioner from its card (no weights load); the
    default configuration's when the card is missing (the tab then says so on Run)."""
    try:
        cfg = CaptionConfig.from_dict(read_caption_card(caption_dir(source))["config"])
    except ModelLoadError:
        cfg = CaptionConfig()
    return cfg.depth, cfg.heads


def object_steps(view: CaptionView) -> list[int]:
    """The steps that wrote a shape or thing name."""
    return [t for t, w in enumerate(view.steps) if W.role_of(w) in ("shape", "thing")]


def _step(view: CaptionView, step: int) -> int:
    if not isinstance(step, (int, np.integer)) or not -len(view.steps) <= step < len(view.steps):
        raise InputError(f"Step {step!r} does not exist; the caption has {len(view.steps)} steps.")
    return int(step) % len(view.steps)


def caption_word_map(view: CaptionView, step: int, layer: int) -> WordPatchMap:
    """The map of the word written at `step`: its cross-attention over the patches at `layer`,
    per head and heads averaged (text_share is 0: cross-attention reads only patches)."""
    step = _step(view, step)
    if not -view.n_layers <= layer < view.n_layers:
        raise InputError(f"Layer {layer} does not exist; the decoder has {view.n_layers} layers.")
    per_head = view.cross[layer, :, step].reshape(view.n_heads, view.rows, view.cols)
    return WordPatchMap(word=view.steps[step], position=step, layer=layer % view.n_layers,
                        per_head=per_head, mean=per_head.mean(0), text_share=np.zeros(view.n_heads))


def _phrase_of(view: CaptionView, step: int, masks: dict[str, np.ndarray]) -> str | None:
    """The phrase of `masks` the object word at `step` names ("red star" prefers "a red star")."""
    word = view.steps[step]
    colour = view.steps[step - 1] if step > 0 and W.role_of(view.steps[step - 1]) == "colour" else None
    fits = [p for p in masks if object_word(p) == word]
    exact = [p for p in fits if colour is not None and colour in W.tokenize(p)]
    return (exact or fits or [None])[0]


def caption_pointing(view: CaptionView, masks: dict[str, np.ndarray],
                     layers: list[int] | None = None) -> WordPointing:
    """The pointing game for each written object word (shape or thing) that names one of
    `masks` (phrase -> bool [H, W] at the model's input size): does its heads-averaged map
    peak on a patch the mask touches, and its energy-in-mask, per layer (all unless given)."""
    grid = PatchGrid(rows=view.rows, cols=view.cols, patch_size=view.patch_size,
                     image_size=tuple(view.image.shape[:2]), has_cls=False)
    rows = []
    for step, word in enumerate(view.steps):
        phrase = _phrase_of(view, step, masks) if W.role_of(word) in ("shape", "thing") else None
        if phrase is None:
            continue
        mask = np.asarray(masks[phrase], bool)
        if mask.shape != view.image.shape[:2]:
            raise InputError(f"The mask of {phrase!r} is {mask.shape}; the image is {view.image.shape[:2]}.")
        for layer in (range(view.n_layers) if layers is None else layers):
            m = caption_word_map(view, step, layer).mean
            rows.append((word, phrase, layer % view.n_layers, pointing_hit(m, mask, grid),
                         energy_in_mask(m, mask, grid), float(mask_fraction(mask, grid).mean())))
    if not rows:
        return WordPointing([], [], np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
    w, o, layer, hit, energy, chance = zip(*rows)
    return WordPointing(list(w), list(o), np.array(layer), np.array(hit), np.array(energy), np.array(chance))


@dataclass(frozen=True)
class HeldOutScene:
    """A two-object world scene the captioner never trained on (the card's figures use these):
    image uint8 [H, W, 3] and the exact mask of each object by its phrase ("red star")."""

    index: int
    image: np.ndarray
    masks: dict[str, np.ndarray]


def held_out_scene(index: int) -> HeldOutScene:
    """Scene `index` (0..199) of the card's held-out stream; needs the emoji font."""
    from ..fusion.data import world_scenes
    from ..miniclip.everyday import FontMissing
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or not 0 <= index < HELD_OUT_SCENES:
        raise InputError(f"Scene {index!r} does not exist; the held-out scenes are 0 to {HELD_OUT_SCENES - 1}.")
    try:
        *_, (_, s) = world_scenes(HELD_OUT_SEED, int(index) + 1, stream=HELD_OUT_STREAM, n_objects=2)
    except FontMissing as e:
        raise InputError(f"Held-out scenes are drawn on the fly and need the colour emoji font here: {e}") from e
    masks = {}
    for t, m in zip(s.things, s.masks):
        name = f"{t.colour} {t.name}" if t.colour else t.name
        masks[name if name not in masks else f"{name} (2)"] = np.asarray(m, bool)
    return HeldOutScene(index=int(index), image=s.image, masks=masks)
