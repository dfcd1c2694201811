"""Causal lab on the captioner's cross-attention heads: remove heads, let the model write again.

    abl = ablate_caption_heads("fusion-caption", img, heads=[(1, 2)])
    abl.intact, abl.ablated              # the caption without and with the heads removed
    abl.before, abl.after                # P(each word of the intact caption), teacher-forced
    imp = caption_head_importance("fusion-caption", img)        # delta [layer, head]
    readers = caption_reading_heads("fusion-caption", k=4)      # most weight on the objects
    acc = caption_ablation_accuracy("fusion-caption", readers, n=200)
    acc.intact, acc.ablated              # names / colours / grammar on held-out scenes

A cross-attention head's softmax runs over the patches alone, so every head "reads the image"
with all of its weight. What differs is WHERE: `caption_reading_heads` ranks heads by the share
of their weight on the scene's objects (their exact masks) at the steps that wrote a naming word
(a colour, shape or thing), over held-out scenes. A head is removed at its only way into the
model, as for every family here: its context vector, entering the cross-attention output
projection, is set to zeros ("zero") or to its mean over the caption's positions in the intact
run ("mean"), at every step of the writing (`capture.heads.edit_heads`).

Grammar: a caption is "grammatical" when it has the form of the training captions
(`fusion.words.caption`): "a <colour> <shape>" or "a <thing>" phrases, joined by "and",
", ... and" or a relation ("above", "left of" ...), each perhaps followed by a position
("at the top"). The words may be wrong; the sentence is still well formed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..capture.heads import capture_head_inputs, edit_heads
from ..explain.pointing import energy_in_mask
from ..fusion import words as W
from ..fusion.caption import END, START, caption_ids, grammatical, scores
from ..fusion.data import world_scenes
from ..miniclip.model import to_pixels
from ..models.clip_base import PatchGrid
from ..types import InputError
from ..types.causal import HeadImportance
from .causal_common import MEAN_OVER, check_mode
from .causal_towers import check_pairs
from .fusion_caption import HELD_OUT_SEED, HELD_OUT_STREAM, as_captioner

MAX_SCENES = 1000


# ---- removing heads ------------------------------------------------------------------------
def check_caption_heads(adapter, heads) -> tuple[tuple[int, int], ...]:
    return check_pairs(heads, adapter.n_layers, adapter.n_heads, "captioner's cross-attention")


def _values(pairs, n_items: int, n_heads: int, mode: str, contexts: dict | None):
    """edit_heads' select / values: every item removes `pairs`; "mean": each item's own
    intact contexts averaged over its caption's positions ([item, 1, head, d_head])."""
    select = {}
    for layer, head in pairs:
        select.setdefault(layer, torch.zeros(n_items, n_heads, dtype=torch.bool))[:, head] = True
    values = {layer: torch.zeros(()) if mode == "zero" else contexts[layer].mean(1, keepdim=True)
              for layer in select}
    return select, values


@torch.no_grad()
def _teacher_forced(adapter, memory, words: list[str]) -> tuple[torch.Tensor, dict]:
    """P(each word and [END]) when the decoder reads [START] + words: [batch, step]; and the
    cross-attention heads' contexts of that run."""
    ids = torch.tensor([caption_ids([START, *words])], device=memory.device).expand(memory.shape[0], -1)
    targets = torch.tensor(caption_ids([*words, END]), device=memory.device)
    with capture_head_inputs(adapter.cross_out_projs(), adapter.n_heads) as contexts:
        probs = adapter.model.decode(ids, memory)[0].softmax(-1)[:, torch.arange(len(targets)), targets]
    return probs, dict(contexts)


@dataclass(frozen=True)
class CaptionAblation:
    """One scene: the caption intact and with `heads` removed (each written by the model), and
    P(each step of the intact caption, [END] last) before / after, teacher-forced."""

    heads: tuple[tuple[int, int], ...]
    mode: str
    intact: list[str]
    ablated: list[str]
    steps: list[str]
    before: np.ndarray
    after: np.ndarray
    grammatical: bool
    model_name: str


def _memory(adapter, image):
    return adapter.model.memory(adapter.pixels(adapter.image_array(image)))


@torch.no_grad()
def ablate_caption_heads(model, image, heads, mode: str = "zero") -> CaptionAblation:
    """Remove `heads` [(layer, head), ...] of the cross-attention all at once: the caption the
    model writes then, and P(the intact caption's words)."""
    check_mode(mode)
    adapter = as_captioner(model)
    pairs = check_caption_heads(adapter, heads)
    memory = _memory(adapter, image)
    intact = _greedy_from(adapter, memory)[0]
    before, contexts = _teacher_forced(adapter, memory, intact)
    select, values = _values(pairs, 1, adapter.n_heads, mode, contexts)
    with edit_heads(adapter.cross_out_projs(), adapter.n_heads, select, values):
        ablated = _greedy_from(adapter, memory)[0]
        after = _teacher_forced(adapter, memory, intact)[0]
    return CaptionAblation(heads=pairs, mode=mode, intact=intact, ablated=ablated,
                           steps=[*intact, END], before=before[0].cpu().numpy(),
                           after=after[0].cpu().numpy(), grammatical=grammatical(ablated),
                           model_name=adapter.name)


def _greedy_from(adapter, memory) -> list[list[str]]:
    """Greedy captions from the encoder's output, one list of words per row of `memory` (the
    model's `generate`, which starts from pixels, written for a memory that is given)."""
    vocab = adapter.vocabulary()
    ids = torch.full((memory.shape[0], 1), vocab.index(START), dtype=torch.long, device=memory.device)
    done = torch.zeros(memory.shape[0], dtype=torch.bool, device=memory.device)
    while ids.shape[1] < adapter.cfg.max_words and not done.all():
        nxt = adapter.model.decode(ids, memory)[0][:, -1].argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, vocab.index(END)), nxt)
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        done |= nxt == vocab.index(END)
    words = [[vocab[i] for i in row] for row in ids[:, 1:].tolist()]
    return [w[:w.index(END)] if END in w else w for w in words]


def _naming_steps(words: list[str]) -> list[int]:
    named = [t for t, w in enumerate(words) if W.role_of(w) is not None]
    return named or list(range(len(words) + 1))


@torch.no_grad()
def caption_head_importance(model, image, mode: str = "zero") -> HeadImportance:
    """Every cross-attention head removed alone (one batched forward, one item per head):
    the change of the mean P(the intact caption's naming words), teacher-forced; [layer, head]."""
    check_mode(mode)
    t0 = time.perf_counter()
    adapter = as_captioner(model)
    L, H = adapter.n_layers, adapter.n_heads
    memory = _memory(adapter, image)
    intact = _greedy_from(adapter, memory)[0]
    spots = _naming_steps(intact)
    probs, contexts = _teacher_forced(adapter, memory, intact)
    before = float(probs[0, spots].mean())
    select = {layer: torch.zeros(L * H, H, dtype=torch.bool) for layer in range(L)}
    for i in range(L * H):
        select[i // H][i, i % H] = True
    values = {layer: torch.zeros(()) if mode == "zero" else contexts[layer].mean(1, keepdim=True)
              for layer in range(L)}
    with edit_heads(adapter.cross_out_projs(), H, select, values):
        after = _teacher_forced(adapter, memory.expand(L * H, -1, -1), intact)[0][:, spots].mean(1)
    return HeadImportance(delta=(after.cpu().numpy() - before).reshape(L, H), before=before, mode=mode,
                          target="mean P(the caption's naming words)", seconds=time.perf_counter() - t0,
                          batch_size=L * H, mean_over=MEAN_OVER if mode == "mean" else "",
                          tokens=tuple(intact), model_name=adapter.name)


# ---- held-out scenes -------------------------------------------------------------------------
def _held_out(adapter, n: int):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_SCENES:
        raise InputError(f"n={n!r}: a whole number of held-out scenes from 1 to {MAX_SCENES}.")
    scenes = [s for _, s in world_scenes(HELD_OUT_SEED, int(n), size=adapter.cfg.image_size,
                                         stream=HELD_OUT_STREAM, n_objects=2)]
    pixels = to_pixels(np.stack([s.image for s in scenes])).to(adapter.device)
    return scenes, adapter.model.memory(pixels)


def object_share(adapter, memory, words_per_scene, masks_per_scene) -> np.ndarray:
    """Mean share of each cross-attention head's weight on the scene's objects (the union of
    their exact masks) at the steps that wrote a naming word: [layer, head]."""
    cfg = adapter.cfg
    grid = PatchGrid(rows=cfg.grid, cols=cfg.grid, patch_size=cfg.patch,
                     image_size=(cfg.image_size, cfg.image_size), has_cls=False)
    total, count = np.zeros((adapter.n_layers, adapter.n_heads)), 0
    for r, (words, masks) in enumerate(zip(words_per_scene, masks_per_scene)):
        union = np.any(np.stack([np.asarray(m, bool) for m in masks]), axis=0)
        steps = [t for t, w in enumerate(words) if W.role_of(w) is not None]
        if not steps:
            continue
        ids = torch.tensor([caption_ids([START, *words])], device=memory.device)
        crosses = adapter.model.decode(ids, memory[r:r + 1], return_attentions=True)[2]
        for layer, a in enumerate(crosses):                                # [1, head, step, patch]
            for h in range(adapter.n_heads):
                maps = a[0, h, steps].cpu().numpy().reshape(len(steps), cfg.grid, cfg.grid)
                total[layer, h] += sum(energy_in_mask(m, union, grid) for m in maps)
        count += len(steps)
    return total / max(count, 1)


@dataclass(frozen=True)
class ReadingHeads:
    """Heads ranked by their share of weight on the objects (most first), with every share."""

    ranking: list[tuple[int, int]]
    share: np.ndarray          # [layer, head]
    n: int


@torch.no_grad()
def caption_reading_heads(model, k: int = 4, n: int = 40, least: bool = False) -> ReadingHeads:
    """The k cross-attention heads with the most (or, `least`, the least) weight on the
    objects, over n held-out scenes and the model's own captions."""
    adapter = as_captioner(model)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= adapter.n_layers * adapter.n_heads:
        raise InputError(f"k={k!r}: between 1 and {adapter.n_layers * adapter.n_heads} heads.")
    scenes, memory = _held_out(adapter, n)
    share = object_share(adapter, memory, _greedy_from(adapter, memory), [s.masks for s in scenes])
    order = np.argsort(share, axis=None, kind="stable")
    order = order if least else order[::-1]
    pairs = [tuple(int(x) for x in np.unravel_index(i, share.shape)) for i in order[:int(k)]]
    return ReadingHeads(ranking=pairs, share=share, n=len(scenes))


@dataclass(frozen=True)
class CaptionAccuracy:
    """Held-out two-object scenes, captions written intact and with `heads` removed: share of
    scenes that name every object, have every shape's colour right, and are grammatical."""

    heads: tuple[tuple[int, int], ...]
    mode: str
    n: int
    seed: int
    intact: dict
    ablated: dict
    colour_chance: float       # a colour guessed at random for every shape
    examples: list[tuple[str, str]] = field(default_factory=list)


def _figures(captions, scenes) -> dict:
    per = [scores(c, s.things) for c, s in zip(captions, scenes)]
    col = [p["colours_right"] for p in per if p["colours_right"] is not None]
    return {"names_every_object": float(np.mean([p["names_every_object"] for p in per])),
            "colours_right": float(np.mean(col)) if col else float("nan"),
            "grammatical": float(np.mean([grammatical(c) for c in captions]))}


@torch.no_grad()
def caption_ablation_accuracy(model, heads, n: int = 200, mode: str = "zero") -> CaptionAccuracy:
    """The card's held-out scenes (seed and stream of `lab/caption_eval`): every caption written
    intact and again with `heads` removed in every scene."""
    check_mode(mode)
    adapter = as_captioner(model)
    pairs = check_caption_heads(adapter, heads)
    scenes, memory = _held_out(adapter, n)
    intact = _greedy_from(adapter, memory)
    contexts = None
    if mode == "mean":                 # each scene's own intact contexts, over its caption
        means = [_teacher_forced(adapter, memory[r:r + 1], words)[1] for r, words in enumerate(intact)]
        contexts = {layer: torch.cat([m[layer].mean(1, keepdim=True) for m in means])
                    for layer in range(adapter.n_layers)}
    select, values = _values(pairs, len(scenes), adapter.n_heads, mode, contexts)
    with edit_heads(adapter.cross_out_projs(), adapter.n_heads, select, values):
        ablated = _greedy_from(adapter, memory)
    shapes = [sum(t.kind == "shape" for t in s.things) for s in scenes]
    chance = float(np.mean([(1 / len(W.COLOURS)) ** k for k in shapes if k]))
    return CaptionAccuracy(heads=pairs, mode=mode, n=len(scenes), seed=HELD_OUT_SEED,
                           intact=_figures(intact, scenes), ablated=_figures(ablated, scenes),
                           colour_chance=chance,
                           examples=[(" ".join(a), " ".join(b)) for a, b in zip(intact[:5], ablated[:5])])
