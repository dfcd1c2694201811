"""Pairs that teach by contrast, and the two-run convenience behind them.

    diff = mi.compare_texts("minilm", *mi.minimal_pair("negation"))      # two texts, one model
    diff = mi.compare_texts("minilm", text, text, model_b=mi.randomized_copy("minilm", k=2))

Minimal pairs are data: two texts that differ in one thing a linguist would name, and labels
whose zero-shot scores show whether the model's output noticed.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from ..types import InputError
from .adapters import as_text_adapter
from .availability import exclusive
from .compare import compare
from .text import inspect_text


@dataclass(frozen=True)
class MinimalPair:
    name: str
    text_a: str
    text_b: str
    labels: tuple[str, ...]
    teaches: str


PAIRS = {p.name: p for p in (
    MinimalPair("negation", "The movie was good.", "The movie was not good.",
                ("a positive review", "a negative review"),
                "One inserted word flips the meaning: which heads read 'not', and does the "
                "sentence embedding move towards 'negative'?"),
    MinimalPair("number", "The cat sits on the mat.", "The cats sit on the mat.",
                ("one animal", "several animals"),
                "Singular and plural: the noun and its verb change together (agreement)."),
    MinimalPair("word order", "The old man saw the boat.", "The man saw the old boat.",
                ("an old person", "an old vessel"),
                "The same words in another order: 'old' now describes something else."),
    MinimalPair("swapped roles", "The dog chased the cat.", "The cat chased the dog.",
                ("the dog is the chaser", "the cat is the chaser"),
                "Same words, roles swapped: a bag-of-words model could not tell these apart."),
)}


def list_pairs() -> list[dict]:
    """The minimal pairs, as plain dicts (name, text_a, text_b, labels, teaches)."""
    return [{"name": p.name, "text_a": p.text_a, "text_b": p.text_b, "labels": list(p.labels),
             "teaches": p.teaches} for p in PAIRS.values()]


def minimal_pair(name: str) -> tuple[str, str]:
    """(text A, text B) of the named minimal pair."""
    if name not in PAIRS:
        raise InputError(f"No minimal pair named {name!r}; choose one of {sorted(PAIRS)}.")
    return PAIRS[name].text_a, PAIRS[name].text_b


# The randomised copies made so far, shared read-only like the model cache (a copy of MiniLM
# is ~90 MB, so only the last two are kept).
_COPIES: dict[tuple, object] = {}
_COPIES_LOCK = threading.Lock()
_KEEP = 2


def randomized_copy(model, k: int = 2, seed: int = 0):
    """A copy of a text model whose last `k` layers are re-initialised at random (the same
    rule as the sanity check's cascade: each weight drawn with the trained tensor's own
    spread, norms reset), named "<name> (last k layers random)". The loaded model is not
    touched. Compare it with the trained model to see which heads training shaped."""
    from ..explain.sanity import model_copy, randomize_block, tower_blocks
    adapter = as_text_adapter(model)
    key = (adapter.name, id(adapter), int(k), int(seed))
    with _COPIES_LOCK:
        if key in _COPIES:
            return _COPIES[key]
        blocks = tower_blocks(adapter, "text")
        if not 1 <= k <= len(blocks):
            raise InputError(f"k must be between 1 and {len(blocks)} (the layers of {adapter.name}), got {k}.")
        with exclusive(adapter):
            clone = model_copy(adapter)
        for i, block in enumerate(tower_blocks(clone, "text")[len(blocks) - k:]):
            randomize_block(block, seed * 1_000 + i)
        clone.name = f"{adapter.name} (last {k} layer{'s' * (k > 1)} random)"
        while len(_COPIES) >= _KEEP:
            _COPIES.pop(next(iter(_COPIES)))
        _COPIES[key] = clone
        return clone


def compare_texts(model, text_a: str, text_b: str, model_b=None, labels=None,
                  logit_lens: bool = False, top_k: int = 5):
    """Inspect `text_a` with `model` and `text_b` with `model_b` (default: the same model),
    then `compare` the two views. labels: zero-shot labels scored on both sides (sentence
    encoders), so the prediction change is a probability."""
    a_model = as_text_adapter(model)
    b_model = a_model if model_b is None else as_text_adapter(model_b)
    views = []
    for m, text in ((a_model, text_a), (b_model, text_b)):
        with exclusive(m):
            views.append(inspect_text(m, text, labels=labels,
                                      logit_lens=logit_lens and m.kind in ("masked_lm", "causal_lm")))
    return compare(*views, top_k=top_k)
