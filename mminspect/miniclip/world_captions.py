"""Captions for mini-CLIP 2's world: one per scene (for the contrastive loss) and one per
object (for the dense, patch-level loss: "a bicycle" goes with the bicycle's mask), plus
hard negatives with swapped colours (binding).

A shape is named by colour and shape ("a crimson star"), an everyday object by its name
("a bicycle": its colours are its own, so no colour word). Where an object is, when said,
is the 3x3 region of its visible pixels (`Thing.region`); relations compare regions.
"""
from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np

from .captions import (COLOUR_WORDS, POSITION_WORDS, RELATION_WORDS, SHAPE_WORDS, _pick,
                       article)
from .world import Thing, swap_pair

P_POSITION, P_RELATION = 0.6, 0.6
MANY = ("{a}, {b} and {c}", "a picture of {a}, {b} and {c}", "{a}, {b}, {c} and more")


def object_phrase(t: Thing, rng: np.random.Generator | None = None) -> str:
    """'a crimson star' / 'a bicycle'; canonical words when rng is None (prompts, dense loss)."""
    pick = (lambda options: options[0]) if rng is None else (lambda options: _pick(rng, options))
    if t.kind == "shape":
        return article(f"{pick(COLOUR_WORDS[t.colour])} {pick(SHAPE_WORDS[t.name])}")
    return article(t.name)


def relation(a: Thing, b: Thing) -> str | None:
    """'above' / 'below' / 'left' / 'right' when the regions say so, else None."""
    (ra, ca), (rb, cb) = a.region, b.region
    if ra != rb:
        return "above" if ra < rb else "below"
    if ca != cb:
        return "left" if ca < cb else "right"
    return None


def world_caption(things: tuple[Thing, ...], rng: np.random.Generator) -> str:
    """A random true caption naming every object (up to three by name, 'and more' beyond)."""
    order = [things[i] for i in rng.permutation(len(things))]
    nps = [object_phrase(t, rng) for t in order]
    if len(order) == 1:
        if rng.random() < P_POSITION:
            return f"{nps[0]} {_pick(rng, POSITION_WORDS[order[0].region])}"
        return nps[0]
    rel = relation(order[0], order[1])
    if len(order) == 2:
        if rel is not None and rng.random() < P_RELATION:
            return f"{nps[0]} {_pick(rng, RELATION_WORDS[rel])} {nps[1]}"
        placed = [f"{n} {_pick(rng, POSITION_WORDS[t.region])}" if rng.random() < P_POSITION else n
                  for n, t in zip(nps, order)]
        return f"{placed[0]} and {placed[1]}"
    if len(order) == 3:
        return _pick(rng, MANY[:2]).format(a=nps[0], b=nps[1], c=nps[2])
    return MANY[2].format(a=nps[0], b=nps[1], c=nps[2])


def object_captions(things: tuple[Thing, ...], rng: np.random.Generator | None = None,
                    p_position: float = 0.5) -> list[str]:
    """One canonical phrase per object, in the scene's order (the dense loss pairs each with
    its mask); with `rng`, each says where the object is with probability `p_position`
    ("a bicycle in the top left corner"), so the pooled patches learn position too."""
    out = [object_phrase(t) for t in things]
    if rng is None:
        return out
    return [f"{o} {POSITION_WORDS[t.region][0]}" if rng.random() < p_position else o
            for o, t in zip(out, things)]


def swap_things(things: tuple[Thing, ...]) -> tuple[Thing, ...] | None:
    """The scene with the colours of `_swap_pair` exchanged (same places, same shapes), or
    None: its caption is a hard negative worded exactly like the true one."""
    pair = swap_pair(things)
    if pair is None:
        return None
    i, j = pair
    out = list(things)
    out[i], out[j] = replace(things[i], colour=things[j].colour), replace(things[j], colour=things[i].colour)
    return tuple(out)


def swapped_caption(things: tuple[Thing, ...], rng: np.random.Generator) -> tuple[str, str | None]:
    """(a true caption, the same caption of the colour-swapped scene or None).

    Both draw the same words from copies of `rng`, so they differ only in which shape has
    which colour. A negative worded differently from the positives (e.g. always the plain
    'a blue circle and a red square') would let training learn the *wording* of negatives
    instead of binding: that is what held run 4 at 52.5 %."""
    twin = copy.deepcopy(rng)
    true = world_caption(things, rng)
    swapped = swap_things(things)
    if swapped is None:
        return true, None
    false = world_caption(swapped, twin)
    return true, (false if false != true else None)


def swapped_colours(things: tuple[Thing, ...]) -> tuple[str, str] | None:
    """(true, swapped) listing of the first two shapes of different colours, or None: 'a red
    circle and a blue square' vs 'a blue circle and a red square' (the binding test)."""
    pair = swap_pair(things)
    if pair is None:
        return None
    a, b = things[pair[0]], things[pair[1]]
    true = f"{article(f'{a.colour} {a.name}')} and {article(f'{b.colour} {b.name}')}"
    swap = f"{article(f'{b.colour} {a.name}')} and {article(f'{a.colour} {b.name}')}"
    return true, swap
