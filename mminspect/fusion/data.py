"""The fusion models' data: world scenes of 1-3 objects drawn by (seed, stream, index), and
captions padded into one batch. Training and evaluation draw from here, so a held-out stream
is the same scenes for both."""
from __future__ import annotations

import numpy as np
import torch

from ..miniclip.world import render_world
from . import words as W

N_OBJECTS_P = (0.35, 0.35, 0.3)       # 1, 2, 3 objects (captions name every one)


def world_scenes(seed: int, n: int, size: int = 64, stream: int = 0, n_objects: int | None = None):
    """Scenes i = 0..n-1 of stream (seed, stream): 1-3 objects (or exactly `n_objects`)."""
    for i in range(n):
        rng = np.random.default_rng([seed, stream, i])
        k = int(rng.choice(3, p=N_OBJECTS_P)) + 1 if n_objects is None else n_objects
        yield rng, render_world(rng, size, n_objects=k)


def masked_blanks(seed: int, n: int, roles: tuple[str, ...], stream: int, size: int = 64):
    """n held-out masked-word items of stream (seed, stream): per scene one true caption with
    one word of `roles` blanked -> (images, captions with [MASK], the blank's position counting
    [CLS], the answer's id). Scenes without such a word are passed over."""
    images, captions, spots, answers = [], [], [], []
    for rng, s in world_scenes(seed, 4 * n, size, stream=stream):
        c = W.caption(s.things, rng)
        where = [p for r in roles for p in W.content_positions(c, r)]
        if not where:
            continue
        k = where[int(rng.integers(len(where)))]
        images.append(s.image)
        captions.append(list(W.with_mask(c, k).tokens))
        spots.append(k + 1)                                      # +1: [CLS]
        answers.append(W.ids_of([c.tokens[k]])[0])
        if len(images) == n:
            break
    return images, captions, spots, answers


def pad(captions: list[list[str]], max_words: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists -> (ids [row, word] with [CLS] first, keep bool [row, word])."""
    n = max(len(c) for c in captions) + 1
    if n > max_words:
        raise ValueError(f"a caption of {n - 1} words; the model reads at most {max_words - 1}")
    ids = torch.zeros(len(captions), n, dtype=torch.long)                 # [PAD] is id 0
    keep = torch.zeros(len(captions), n, dtype=torch.bool)
    for r, c in enumerate(captions):
        ids[r, :len(c) + 1] = torch.tensor(W.ids_of([W.CLS, *c]))
        keep[r, :len(c) + 1] = True
    return ids, keep
