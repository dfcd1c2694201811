"""Words for the fusion models: a closed vocabulary, a tokenizer, and captions of mini-CLIP 2's
world in canonical words, each word tagged with the object it names.

Why a word vocabulary of our own and not MiniLM's WordPiece: the fusion model learns its text
side from scratch, and one token per word keeps "a [MASK] star" a single blank to fill and a
word's attention map a single row. Names of two words ("light bulb", "fir tree") are ONE token.

Why canonical words ("red", not "crimson"): a masked colour then has one right answer, so
"masked-colour accuracy" means what it says. mini-CLIP 2's synonyms stay in its own captions.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..miniclip import everyday
from ..miniclip.captions import POSITION_WORDS
from ..miniclip.scenes import COLOURS, SHAPES
from ..miniclip.world import Thing
from ..miniclip.world_captions import relation

PAD, CLS, MASK, UNK = "[PAD]", "[CLS]", "[MASK]", "[UNK]"
SPECIALS = (PAD, CLS, MASK, UNK)
RELATIONS = {"above": "above", "below": "below", "left": "left of", "right": "right of"}
P_POSITION, P_RELATION = 0.5, 0.6
ROLES = ("colour", "shape", "thing")      # the words a caption can blank or change


@lru_cache(maxsize=1)
def things() -> tuple[str, ...]:
    """The 64 everyday names, sorted."""
    return tuple(sorted(everyday.name_of(e) for e in everyday.all_emoji()))


@lru_cache(maxsize=1)
def vocabulary() -> tuple[str, ...]:
    """Every token, specials first; the order is fixed by the world's word lists, so a saved
    model's vocabulary is rebuilt exactly (the card records it too)."""
    glue = {"a", "an", "and", ",", "of"}
    for phrase in [p[0] for p in POSITION_WORDS.values()] + list(RELATIONS.values()):
        glue |= set(phrase.split())
    return SPECIALS + tuple(sorted(glue)) + COLOURS + SHAPES + things()


def role_of(word: str) -> str | None:
    if word in COLOURS:
        return "colour"
    if word in SHAPES:
        return "shape"
    return "thing" if word in things() else None


def tokenize(text: str) -> list[str]:
    """Lower-case words; commas are tokens; two words that name one thing ("light bulb") are
    one token; "[mask]" in any case is the mask token; anything else unknown is kept as
    written (the model reads it as [UNK])."""
    vocab = set(vocabulary())
    words = text.replace(",", " , ").split()
    out, i = [], 0
    while i < len(words):
        w = words[i].lower()
        pair = f"{w} {words[i + 1].lower()}" if i + 1 < len(words) else ""
        if pair in vocab:
            out.append(pair)
            i += 2
            continue
        out.append(MASK if w == MASK.lower() else w)
        i += 1
    return out


def ids_of(tokens: list[str]) -> list[int]:
    """Token ids ([UNK] for words outside the vocabulary)."""
    index = {w: i for i, w in enumerate(vocabulary())}
    return [index.get(t, index[UNK]) for t in tokens]


@dataclass(frozen=True)
class Caption:
    """A caption as tokens, each with the object it names (-1 for none) and its role
    ("colour", "shape", "thing" or None)."""

    tokens: tuple[str, ...]
    objects: tuple[int, ...]
    roles: tuple[str | None, ...]

    @property
    def text(self) -> str:
        return " ".join(self.tokens).replace(" ,", ",")


def _phrase(t: Thing, k: int) -> list[tuple[str, int, str | None]]:
    art = "an" if (t.colour or t.name)[0] in "aeiou" else "a"
    if t.kind == "shape":
        return [(art, -1, None), (t.colour, k, "colour"), (t.name, k, "shape")]
    return [(art, -1, None), (t.name, k, "thing")]


def _glue(words: str) -> list[tuple[str, int, str | None]]:
    return [(w, -1, None) for w in words.split()]


def caption(scene_things: tuple[Thing, ...], rng: np.random.Generator) -> Caption:
    """A random true caption naming every object (1-3), in a random order: positions (the 3x3
    region of the visible pixels) and relations said only sometimes."""
    order = [int(i) for i in rng.permutation(len(scene_things))]
    parts = [_phrase(scene_things[k], k) for k in order]
    where = [_glue(POSITION_WORDS[scene_things[k].region][0]) for k in order]
    if len(order) == 1:
        out = parts[0] + (where[0] if rng.random() < P_POSITION else [])
    elif len(order) == 2:
        rel = relation(scene_things[order[0]], scene_things[order[1]])
        if rel is not None and rng.random() < P_RELATION:
            out = parts[0] + _glue(RELATIONS[rel]) + parts[1]
        else:
            a = parts[0] + (where[0] if rng.random() < P_POSITION else [])
            b = parts[1] + (where[1] if rng.random() < P_POSITION else [])
            out = a + _glue("and") + b
    else:
        out = [w for p, sep in zip(parts, (",", "and", "")) for w in p + (_glue(sep) if sep else [])]
    tokens, objects, roles = zip(*out)
    return Caption(tuple(tokens), tuple(objects), tuple(roles))


def with_mask(c: Caption, position: int) -> Caption:
    """The caption with token `position` replaced by [MASK]."""
    tokens = list(c.tokens)
    tokens[position] = MASK
    return Caption(tuple(tokens), c.objects, c.roles)


def content_positions(c: Caption, role: str | None = None) -> list[int]:
    """Positions of the words that name something (of one role, if given)."""
    return [i for i, r in enumerate(c.roles) if r is not None and (role is None or r == role)]


def wrong_word(c: Caption, scene_things: tuple[Thing, ...], rng: np.random.Generator,
               position: int | None = None) -> Caption | None:
    """The caption with one naming word changed so that it is false of the scene: a colour or
    shape becomes another whose (colour, shape) pair is not in the scene, a thing another
    thing the scene does not hold. None when the caption has no such word."""
    spots = content_positions(c) if position is None else [position]
    if not spots:
        return None
    i = spots[int(rng.integers(len(spots)))]
    t = scene_things[c.objects[i]]
    present = {(o.colour, o.name) for o in scene_things}
    if c.roles[i] == "colour":
        options = [w for w in COLOURS if (w, t.name) not in present]
    elif c.roles[i] == "shape":
        options = [w for w in SHAPES if (t.colour, w) not in present]
    else:
        options = [w for w in things() if (None, w) not in present]
    word = options[int(rng.integers(len(options)))]
    tokens = list(c.tokens)
    tokens[i] = word
    if i > 0 and tokens[i - 1] in ("a", "an"):           # "an apple" -> "a pear"
        tokens[i - 1] = "an" if word[0] in "aeiou" else "a"
    return Caption(tuple(tokens), c.objects, c.roles)
