"""Causal lab on the fusion model's heads: remove heads and measure the answer.

    abl = mi.ablate_fusion_heads("fusion", img, "a [MASK] star left of a cat", heads=[(2, 1)])
    abl.before, abl.after               # P(the intact answer at [MASK]) with and without the heads
    imp = mi.fusion_head_importance("fusion", img, "a [MASK] star left of a cat")   # [layer, head]
    readers = mi.image_reading_heads("fusion", img, "a [MASK] star left of a cat", k=4)
    acc = mi.fusion_ablation_accuracy("fusion", heads=readers, role="colour", n=200)
    acc.intact, acc.ablated, acc.chance  # held-out masked-colour accuracy: does it fall to chance?

The target: with a [MASK] in the caption, the probability of the word the intact model puts
there (the first [MASK]); without one, P(match) from the matching head. A head is removed at
its only way into the model, as for every family here: its context vector, as it enters the
attention output projection `proj`, is replaced by zeros ("zero") or by its mean over the
sequence's positions ("mean") (`capture.heads.edit_heads`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..capture.heads import capture_head_inputs, edit_heads
from ..fusion import words as W
from ..fusion.data import masked_blanks, pad
from ..miniclip.model import to_pixels
from ..types import InputError
from ..types.causal import HeadAblation, HeadImportance
from .causal_common import MEAN_OVER, check_mode
from .causal_towers import check_pairs
from .fusion import as_fusion
from .images import read_image

EVAL_SEED = 5100            # the held-out scenes of the model card (never drawn in training)
STREAMS = {"colour": 2, "object": 3}


@dataclass(frozen=True)
class _Run:
    adapter: object
    tokens: list[str]
    pixels: torch.Tensor        # [1, 3, H, W]
    ids: torch.Tensor           # [1, token]
    target: str
    position: int | None        # the [MASK] read, or None: P(match)
    word: int | None            # the intact model's word there (vocabulary id)


def _prepare(model, image, caption: str) -> _Run:
    adapter = as_fusion(model)
    _, tokens, pixels, ids = adapter.inputs(read_image(image, "the image"), caption)
    if W.MASK not in tokens:
        return _Run(adapter, tokens, pixels, ids, "P(match)", None, None)
    pos = tokens.index(W.MASK)
    word = int(adapter.forward(pixels, ids)[1][0, pos].argmax())
    name = adapter.vocabulary()[word]
    return _Run(adapter, tokens, pixels, ids, f"P({name!r} at the first [MASK])", pos, word)


def _score(run: _Run, batch: int = 1) -> torch.Tensor:
    """The target for `batch` copies of the input, one forward: [batch]."""
    match, words, _ = run.adapter.forward(run.pixels.expand(batch, -1, -1, -1),
                                          run.ids.expand(batch, -1))
    return match if run.position is None else words[:, run.position, run.word]


def _sites(adapter):
    return adapter.head_out_projs(), adapter.n_heads


def check_heads(heads, n_layers: int, n_heads: int) -> tuple[tuple[int, int], ...]:
    return check_pairs(heads, n_layers, n_heads, "fusion model's")


def _edits(items: list[tuple[tuple[int, int], ...]], n_heads: int, mode: str, contexts: dict):
    """edit_heads' select / values: batch item i removes the heads items[i]."""
    select: dict[int, torch.Tensor] = {}
    for i, pairs in enumerate(items):
        for layer, head in pairs:
            if layer not in select:
                select[layer] = torch.zeros(len(items), n_heads, dtype=torch.bool)
            select[layer][i, head] = True                                  # [batch, head]
    values = {layer: (torch.zeros(()) if mode == "zero"
                      else contexts[layer].mean(dim=1, keepdim=True))      # [b, 1, head, d_head]
              for layer in select}
    return select, values


@torch.no_grad()
def _clean(run: _Run) -> tuple[float, dict]:
    projs, n_heads = _sites(run.adapter)
    with capture_head_inputs(projs, n_heads) as contexts:
        value = float(_score(run)[0])
    return value, dict(contexts)


def ablate_fusion_heads(model, image, caption: str, heads, mode: str = "zero") -> HeadAblation:
    """The target before and after removing `heads` [(layer, head), ...] all at once."""
    check_mode(mode)
    run = _prepare(model, image, caption)
    pairs = check_heads(heads, run.adapter.n_layers, run.adapter.n_heads)
    before, contexts = _clean(run)
    select, values = _edits([pairs], run.adapter.n_heads, mode, contexts)
    with torch.no_grad(), edit_heads(_sites(run.adapter)[0], run.adapter.n_heads, select, values):
        after = float(_score(run)[0])
    return HeadAblation(before=before, after=after, delta=after - before, heads=pairs, mode=mode,
                        target=run.target, mean_over=MEAN_OVER if mode == "mean" else "",
                        tokens=tuple(run.tokens), model_name=run.adapter.name)


def fusion_head_importance(model, image, caption: str, mode: str = "zero") -> HeadImportance:
    """Every head removed alone (one batched forward, one item per head): delta [layer, head]
    of the target. Negative: the head supports the answer."""
    check_mode(mode)
    t0 = time.perf_counter()
    run = _prepare(model, image, caption)
    L, H = run.adapter.n_layers, run.adapter.n_heads
    before, contexts = _clean(run)
    items = [((layer, head),) for layer in range(L) for head in range(H)]
    select, values = _edits(items, H, mode, contexts)
    with torch.no_grad(), edit_heads(_sites(run.adapter)[0], H, select, values):
        after = _score(run, len(items)).cpu().numpy()                      # [layer * head]
    return HeadImportance(delta=(after - before).reshape(L, H), before=before, mode=mode,
                          target=run.target, seconds=time.perf_counter() - t0,
                          batch_size=len(items), mean_over=MEAN_OVER if mode == "mean" else "",
                          tokens=tuple(run.tokens), model_name=run.adapter.name)


def image_reading_heads(model, image, caption: str, k: int = 4, word: str | None = None
                        ) -> list[tuple[int, int]]:
    """The k heads whose text->image block is largest: the share of a word's attention that
    lands on the patches (the first [MASK], else `word`, else every word's mean)."""
    run = _prepare(model, image, caption)
    attns = run.adapter.forward(run.pixels, run.ids)[2]                   # [1, head, T, T] each
    n = len(run.tokens)
    if run.position is not None:
        rows = [run.position]
    elif word is not None:
        if word not in run.tokens:
            raise InputError(f"{word!r} is not a word of the caption ({' '.join(run.tokens[1:])}).")
        rows = [run.tokens.index(word)]
    else:
        rows = list(range(1, n))
    share = torch.stack([a[0, :, rows, n:].sum(-1).mean(-1) for a in attns])   # [layer, head]
    order = np.argsort(-share.cpu().numpy(), axis=None, kind="stable")[:int(k)]
    return [tuple(int(x) for x in np.unravel_index(i, share.shape)) for i in order]


@dataclass(frozen=True)
class AblationAccuracy:
    """Held-out masked-word accuracy with and without `heads` (the same scenes and blanks)."""

    role: str
    heads: tuple[tuple[int, int], ...]
    mode: str
    intact: float
    ablated: float
    chance: float            # 1 / the number of words of that role
    n: int
    seed: int


@torch.no_grad()
def fusion_ablation_accuracy(model, heads, role: str = "colour", n: int = 200,
                             mode: str = "zero") -> AblationAccuracy:
    """Masked-word accuracy on n held-out scenes (the model card's seed and stream) with
    `heads` removed in every scene, next to the intact accuracy and chance."""
    if role not in STREAMS:
        raise InputError(f"role={role!r}: choose 'colour' or 'object'.")
    if not 1 <= int(n) <= 1000:
        raise InputError(f"n={n!r}: between 1 and 1000 scenes.")
    check_mode(mode)
    adapter = as_fusion(model)
    pairs = check_heads(heads, adapter.n_layers, adapter.n_heads)
    roles = ("colour",) if role == "colour" else ("shape", "thing")
    images, captions, spots, answers = masked_blanks(EVAL_SEED, int(n), roles, STREAMS[role],
                                                     adapter.cfg.image_size)
    ids, keep = pad(captions, adapter.cfg.max_words)
    pixels = to_pixels(np.stack(images)).to(adapter.device)
    ids, keep = ids.to(adapter.device), keep.to(adapter.device)
    rows, spots, answers = torch.arange(len(spots)), torch.tensor(spots), torch.tensor(answers)
    projs, H = _sites(adapter)

    def accuracy() -> float:
        words = adapter.model(pixels, ids, keep)[1]                      # [row, word, vocab]
        return float((words[rows, spots].argmax(-1).cpu() == answers).float().mean())

    with capture_head_inputs(projs, H) as contexts:
        intact = accuracy()
    select, values = _edits([pairs] * len(images), H, mode, dict(contexts))
    with edit_heads(projs, H, select, values):
        ablated = accuracy()
    n_words = len(W.COLOURS) if role == "colour" else len(W.SHAPES) + len(W.things())
    return AblationAccuracy(role=role, heads=pairs, mode=mode, intact=intact, ablated=ablated,
                            chance=1 / n_words, n=len(images), seed=EVAL_SEED)
