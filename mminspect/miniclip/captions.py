"""Captions for scenes: templates with synonyms and paraphrases, plus zero-shot prompts.

Every caption names the colour and shape of every object (so a caption is true of its own
scene); size and position are said only sometimes, as people do. Two objects are related by
where they are ("a small blue square above a green star") or simply listed ("... and ...").
"""
from __future__ import annotations

import numpy as np

from .scenes import COLOURS, SHAPES, ObjectSpec

SHAPE_WORDS = {"circle": ("circle", "disc", "round dot"),
               "square": ("square", "box", "block"),
               "triangle": ("triangle", "triangular shape"),
               "star": ("star", "five-pointed star"),
               "cross": ("cross", "plus sign")}
COLOUR_WORDS = {"red": ("red", "crimson", "scarlet"), "green": ("green", "emerald"),
                "blue": ("blue", "azure", "cobalt"), "yellow": ("yellow", "golden", "lemon"),
                "purple": ("purple", "violet"), "orange": ("orange", "amber", "tangerine")}
SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big", "huge")}
# (row, col) -> phrases that follow the object ("a red circle <phrase>").
POSITION_WORDS = {
    (0, 0): ("in the top left corner", "at the upper left", "in the top-left"),
    (0, 1): ("at the top", "at the top center", "near the top edge"),
    (0, 2): ("in the top right corner", "at the upper right", "in the top-right"),
    (1, 0): ("on the left", "at the left side", "on the left edge"),
    (1, 1): ("in the center", "in the middle", "at the centre"),
    (1, 2): ("on the right", "at the right side", "on the right edge"),
    (2, 0): ("in the bottom left corner", "at the lower left", "in the bottom-left"),
    (2, 1): ("at the bottom", "at the bottom center", "near the bottom edge"),
    (2, 2): ("in the bottom right corner", "at the lower right", "in the bottom-right"),
}
RELATION_WORDS = {"above": ("above", "over"), "below": ("below", "under", "beneath"),
                  "left": ("to the left of", "left of"), "right": ("to the right of", "right of")}
ONE = ("{o} {p}", "{o} {p}", "{o}", "there is {o} {p}", "a picture of {o} {p}",
       "an image with {o} {p}", "a drawing of {o}")
TWO_REL = ("{a} {r} {b}", "{a} {r} {b}", "there is {a} {r} {b}", "a picture of {a} {r} {b}")
TWO_AND = ("{a} and {b}", "a picture of {a} and {b}")
THREE = ("{a}, {b} and {c}", "three shapes: {a}, {b} and {c}", "{a} {r} {b}, and {c}")
P_SIZE, P_POSITION, P_RELATION = 0.5, 0.75, 0.7


def article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[rng.integers(len(options))]


def noun_phrase(obj: ObjectSpec, rng: np.random.Generator, with_size: bool | None = None) -> str:
    """ "a small crimson disc" (size only sometimes, unless `with_size` says)."""
    with_size = rng.random() < P_SIZE if with_size is None else with_size
    words = [_pick(rng, SIZE_WORDS[obj.size])] if with_size else []
    words += [_pick(rng, COLOUR_WORDS[obj.colour]), _pick(rng, SHAPE_WORDS[obj.shape])]
    return article(" ".join(words))


def relations(a: ObjectSpec, b: ObjectSpec) -> list[str]:
    """Every relation that holds for "a <rel> b" (cells differ, so at least one)."""
    out = []
    if a.row != b.row:
        out.append("above" if a.row < b.row else "below")
    if a.col != b.col:
        out.append("left" if a.col < b.col else "right")
    return out


def caption(layout: tuple[ObjectSpec, ...], rng: np.random.Generator) -> str:
    """A random true caption of the layout."""
    objs = [layout[i] for i in rng.permutation(len(layout))]   # which object is named first
    if len(objs) == 1:
        p = _pick(rng, POSITION_WORDS[objs[0].position]) if rng.random() < P_POSITION else ""
        t = _pick(rng, ONE) if p else _pick(rng, tuple(t for t in ONE if "{p}" not in t))
        return t.format(o=noun_phrase(objs[0], rng), p=p)
    nps = [noun_phrase(o, rng) for o in objs]
    r = _pick(rng, RELATION_WORDS[_pick(rng, tuple(relations(objs[0], objs[1])))])
    if len(objs) == 2:
        t = _pick(rng, TWO_REL) if rng.random() < P_RELATION else _pick(rng, TWO_AND)
        return t.format(a=nps[0], b=nps[1], r=r)
    return _pick(rng, THREE).format(a=nps[0], b=nps[1], c=nps[2], r=r)


# Zero-shot prompts: canonical words, marginalised over the attributes not being asked about.
def shape_colour_prompts() -> list[tuple[str, str, str]]:
    """[(shape, colour, "a red circle")] for every shape x colour: used for both the shape and
    the colour question (average the prompt embeddings over the other attribute)."""
    return [(s, c, article(f"{c} {s}")) for s in SHAPES for c in COLOURS]


def position_prompts() -> list[tuple[tuple[int, int], str]]:
    """[((row, col), "a red circle in the top left corner")] over shapes, colours, positions."""
    return [(p, article(f"{c} {s}") + " " + POSITION_WORDS[p][0])
            for p in POSITION_WORDS for s in SHAPES for c in COLOURS]


def swapped_pair(a: ObjectSpec, b: ObjectSpec) -> tuple[str, str]:
    """("a red circle and a blue square", "a blue circle and a red square"): the true listing
    and the one with the two colours swapped (same words, wrong binding)."""
    true = f"{article(f'{a.colour} {a.shape}')} and {article(f'{b.colour} {b.shape}')}"
    swap = f"{article(f'{b.colour} {a.shape}')} and {article(f'{a.colour} {b.shape}')}"
    return true, swap
