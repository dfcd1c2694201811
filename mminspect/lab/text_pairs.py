"""Write the bundled text set of minimal pairs (assets/datasets/text_pairs.json).

    python -m mminspect.lab.text_pairs            # rewrites the file; same seed, same file

Each pair is two sentences that differ in one thing a linguist would name (the four kinds of
mi.list_pairs: negation, number, word order, swapped roles), and each sentence has a label
that only the changed part decides. Sentences are drawn from small templates with a seeded
random generator, and the recipe (seed, templates, word lists) is stored in the file beside
the rows, so anyone can see how it was made and write it again.
"""
from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

SEED = 24
PAIRS_PER_KIND = 30
OUT = Path(__file__).resolve().parents[2] / "assets" / "datasets" / "text_pairs.json"

# Word lists. Kept small and plain so every word is in a student's vocabulary and in
# MiniLM's (no word splits into many pieces).
THINGS = ["movie", "meal", "hotel", "book", "concert", "service", "game", "show", "trip",
          "class"]
GOOD = ["good", "great", "excellent", "wonderful", "pleasant", "enjoyable"]
BAD = ["bad", "awful", "boring", "terrible", "dull", "disappointing"]
ANIMALS = ["cat", "dog", "bird", "horse", "rabbit", "goat", "duck", "pig"]
VERBS_NUMBER = [("sits", "sit"), ("sleeps", "sleep"), ("waits", "wait"), ("plays", "play")]
PLACES = ["on the mat", "in the garden", "by the door", "near the barn", "under the tree"]
PEOPLE = ["man", "woman", "girl", "boy", "farmer", "teacher"]
OBJECTS = ["boat", "car", "house", "bike", "chair", "bridge"]
ADJECTIVES = ["old", "small", "big", "famous"]
VERBS_SEE = ["saw", "found", "painted", "watched"]
VERBS_ROLES = ["chased", "followed", "watched", "pushed", "found"]

KINDS = {
    "negation": {"a": "The {thing} was {adj}.", "b": "The {thing} was not {adj}.",
                 "labels": ["positive", "negative"],
                 "rule": "label a is the adjective's sense (good words positive, bad words "
                         "negative); 'not' flips it for b"},
    "number": {"a": "The {animal} {verb_one} {place}.", "b": "The {animal}s {verb_many} {place}.",
               "labels": ["one animal", "several animals"],
               "rule": "a is singular (one animal), b plural (several animals)"},
    "word order": {"a": "The {adj} {person} {verb} the {object}.",
                   "b": "The {person} {verb} the {adj} {object}.",
                   "labels": ["the adjective describes a person",
                              "the adjective describes an object"],
                   "rule": "the same words; in a the adjective stands before the person, in b "
                           "before the object"},
    "swapped roles": {"a": "The {person} {verb} the {animal}.",
                      "b": "The {animal} {verb} the {person}.",
                      "labels": ["a person acts", "an animal acts"],
                      "rule": "the same words; in a the person is the subject, in b the animal"},
}


def _choices(kind: str) -> list[dict]:
    """Every filling of the kind's templates, in a fixed order (the seeded draw picks from it)."""
    if kind == "negation":
        return [{"thing": t, "adj": a, "good": a in GOOD}
                for t, a in itertools.product(THINGS, GOOD + BAD)]
    if kind == "number":
        return [{"animal": an, "verb_one": v1, "verb_many": vm, "place": p}
                for an, (v1, vm), p in itertools.product(ANIMALS, VERBS_NUMBER, PLACES)]
    if kind == "word order":
        return [{"adj": a, "person": p, "verb": v, "object": o}
                for a, p, v, o in itertools.product(ADJECTIVES, PEOPLE, VERBS_SEE, OBJECTS)]
    return [{"person": p, "verb": v, "animal": an}
            for p, v, an in itertools.product(PEOPLE, VERBS_ROLES, ANIMALS)]


def _labels(kind: str, fill: dict) -> tuple[str, str]:
    first, second = KINDS[kind]["labels"]
    if kind == "negation" and not fill["good"]:
        return second, first           # "was bad" is negative, "was not bad" positive
    return first, second


def make_pairs(seed: int = SEED, per_kind: int = PAIRS_PER_KIND) -> list[dict]:
    """The pairs: one dict per pair (pair, kind, text_a, text_b, label_a, label_b)."""
    rng = random.Random(seed)
    pairs = []
    for kind, spec in KINDS.items():
        fills = rng.sample(_choices(kind), per_kind)
        for fill in fills:
            la, lb = _labels(kind, fill)
            pairs.append({"pair": len(pairs), "kind": kind,
                          "text_a": spec["a"].format(**fill), "text_b": spec["b"].format(**fill),
                          "label_a": la, "label_b": lb})
    return pairs


def recipe(seed: int = SEED, per_kind: int = PAIRS_PER_KIND) -> dict:
    return {"made_by": "python -m mminspect.lab.text_pairs", "seed": seed,
            "pairs_per_kind": per_kind, "draw": "random.Random(seed).sample of every filling "
            "of each kind's templates, kinds in the order listed",
            "kinds": KINDS, "words": {"things": THINGS, "good": GOOD, "bad": BAD,
                                      "animals": ANIMALS, "verbs_number": VERBS_NUMBER,
                                      "places": PLACES, "people": PEOPLE, "objects": OBJECTS,
                                      "adjectives": ADJECTIVES, "verbs_see": VERBS_SEE,
                                      "verbs_roles": VERBS_ROLES}}


def main(out: Path = OUT) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"recipe": recipe(), "pairs": make_pairs()}
    out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    print(main())
