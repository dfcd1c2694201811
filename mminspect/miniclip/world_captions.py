"""Captions for mini-CLIP 2's world: one per scene (for the contrastive loss) and one per
object (for the dense, patch-level loss: "a bicycle" goes with the bicycle's mask), plus
hard negatives with swapped colours (binding).

A shape is named by colour and shape ("a crimson star"), an everyday object by its name
("a bicycle": its colours are its own, so no colour word). Where an object is, when said,
is the 3x3 region of its visible pixels (`Thing.region`); relations compare regions.
"""
from __future__ import annotations

import numpy as np

from .captions import (COLOUR_WORDS, POSITION_WORDS, RELATION_WORDS, SHAPE_WORDS, _pick,
                       article)
from .world import Thing

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


def swapped_colours(things: tuple[Thing, ...]) -> tuple[str, str] | None:
    """(true, swapped) listing of the first two shapes of different colours, or None: 'a red
    circle and a blue square' vs 'a blue circle and a red square' (a binding test and a hard
    negative)."""
    shapes = [t for t in things if t.kind == "shape"]
    for i, a in enumerate(shapes):
        for b in shapes[i + 1:]:
            if a.colour != b.colour and a.name != b.name:
                true = f"{article(f'{a.colour} {a.name}')} and {article(f'{b.colour} {b.name}')}"
                swap = f"{article(f'{b.colour} {a.name}')} and {article(f'{a.colour} {b.name}')}"
                return true, swap
    return None
