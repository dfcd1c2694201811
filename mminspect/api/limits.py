"""Every limit on what one request may cost, in one place, the same for every tab and the API.

    lim = limits()                      # read from the environment at each call
    labels = check_labels(labels, lim)  # cleaned labels, or an InputError saying what to change

A host sets them with environment variables (defaults in brackets):

    MMINSPECT_MAX_CHARS        [20000]  characters of a text or a second text
    MMINSPECT_MAX_LABELS       [50]     zero-shot labels in one request (after duplicates go)
    MMINSPECT_MAX_LABEL_CHARS  [300]    characters of one label
    MMINSPECT_BUDGET_S         [60]     estimated seconds one attribution request may take
                                        ("inf" turns the budget off)
    MMINSPECT_OVER_BUDGET      [reduce] above the budget: "reduce" (fewer samples / coarser
                                        perturbations, with a note) or "refuse" (a message)
    MMINSPECT_ATTR_MEMORY_MB   [1024]   activation memory of one attribution batch; one
                                        gradient step that needs more is refused
    MMINSPECT_MAX_NEW_TOKENS   [32]     generated tokens attributed in one request
    MMINSPECT_COPY_MEMORY_MB   [1024]   a model copy one request may make (the sanity check
                                        re-initialises a copy of the networks); a model whose
                                        copy is larger is refused before any work
    MMINSPECT_PRECISION        [auto]   float type of the attributions' forward-only work
                                        (perturbation / surrogate methods, curves): "auto"
                                        (bfloat16 where the hardware runs it natively, ~3x
                                        faster, with a note), "float32" or "bfloat16"

Why these numbers: a label is embedded with all the others in one batch, and a label of
20,000 characters (512 tokens) cost ~34 MB of peak memory, so 64 of them reached 3.26 GB;
50 labels of 300 characters (~80 tokens) stay under ~0.3 GB. A copy of MiniLM is ~90 MB,
of mini-CLIP's networks ~3 MB, of an OpenAI ViT-B/32 CLIP ~600 MB (151 M float32 weights):
1024 MB admits them and refuses ViT-L/14 (~1.7 GB), which would double a small host's RSS. The images' limits (pixels,
images, prompts) live in `api/images.py`; its prompt limits have the same values as the
label limits here (50 prompts of 300 characters), so a label means the same in every tab.
Every check runs before any model work.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields

from ..types import InputError

OVER_BUDGET = ("reduce", "refuse")
PRECISION = ("auto", "float32", "bfloat16")     # explain/attribution/precision.py
CHOICES = {"over_budget": OVER_BUDGET, "precision": PRECISION}


@dataclass(frozen=True)
class Limits:
    max_chars: int = 20_000
    max_labels: int = 50
    max_label_chars: int = 300
    budget_s: float = 60.0
    over_budget: str = "reduce"
    memory_mb: float = 1024.0
    max_new_tokens: int = 32
    copy_mb: float = 1024.0
    precision: str = "auto"

    ENV = {"max_chars": "MMINSPECT_MAX_CHARS", "max_labels": "MMINSPECT_MAX_LABELS",
           "max_label_chars": "MMINSPECT_MAX_LABEL_CHARS", "budget_s": "MMINSPECT_BUDGET_S",
           "over_budget": "MMINSPECT_OVER_BUDGET", "memory_mb": "MMINSPECT_ATTR_MEMORY_MB",
           "max_new_tokens": "MMINSPECT_MAX_NEW_TOKENS", "copy_mb": "MMINSPECT_COPY_MEMORY_MB",
           "precision": "MMINSPECT_PRECISION"}

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in CHOICES:
                if v not in CHOICES[f.name]:
                    raise ValueError(f"{self.ENV[f.name]} must be one of {CHOICES[f.name]}, "
                                     f"got {v!r}")
            elif not (isinstance(v, (int, float)) and v > 0 and not math.isnan(v)):
                raise ValueError(f"{self.ENV[f.name]} must be a positive number, got {v!r}")

    @classmethod
    def from_env(cls, environ=None) -> Limits:
        """The defaults, overridden by the MMINSPECT_* variables that are set (a bad value
        fails here, naming the variable, so a host sees it at start-up)."""
        environ = os.environ if environ is None else environ
        given = {}
        for f in fields(cls):
            raw = environ.get(cls.ENV[f.name], "").strip()
            if not raw:
                continue
            if f.name in CHOICES:
                given[f.name] = raw.lower()
                continue
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{cls.ENV[f.name]} must be a number, got {raw!r}") from None
            given[f.name] = value if f.type == "float" or math.isinf(value) else int(value)
        return cls(**given)


def limits() -> Limits:
    """The limits in force now (read at each call: cheap, and a test or a host can change
    the environment without restarting anything)."""
    return Limits.from_env()


def check_text(text, lim: Limits, what: str = "The text") -> None:
    """Characters of one text; the tokenizer itself cuts tokens at the model's limit."""
    if isinstance(text, str) and len(text) > lim.max_chars:
        raise InputError(f"{what} is {len(text):,} characters; the limit is {lim.max_chars:,}. "
                         "Paste a shorter passage (a model reads at most a few hundred tokens "
                         "of it anyway).")


def check_labels(labels, lim: Limits, what: str = "labels") -> list[str]:
    """Labels stripped, empty ones and duplicates dropped (first kept), then counted and
    measured: the list that will be embedded, or an InputError before any model work."""
    if labels is None:
        return []
    if isinstance(labels, str):
        raise InputError(f"{what} must be a list of strings, e.g. ['sports', 'politics'].")
    out = list(dict.fromkeys(s for s in (str(x).strip() for x in labels) if s))
    if len(out) > lim.max_labels:
        raise InputError(f"{len(out)} {what} given; the limit is {lim.max_labels}. Keep the "
                         "ones you need.")
    long = [s for s in out if len(s) > lim.max_label_chars]
    if long:
        raise InputError(f"A label is {len(long[0]):,} characters; the limit is "
                         f"{lim.max_label_chars}. Shorten {long[0][:30]!r}…")
    return out


def check_memory_mb(memory_mb, lim: Limits) -> float:
    """The activation budget of one attribution batch: the host's by default, never above."""
    if memory_mb is None:
        return float(lim.memory_mb)
    try:
        value = float(memory_mb)
    except (TypeError, ValueError):
        raise InputError(f"memory_mb must be a number, got {memory_mb!r}.") from None
    if not 16 <= value <= lim.memory_mb:
        raise InputError(f"memory_mb must be between 16 and {lim.memory_mb:g} (the limit set by "
                         f"MMINSPECT_ATTR_MEMORY_MB), got {memory_mb}.")
    return value


def check_copy_mb(n_bytes: int, lim: Limits, model_name: str, what: str = "The sanity check") -> None:
    """A copy of `n_bytes` (a model's networks) against MMINSPECT_COPY_MEMORY_MB, before any
    model work: the copy lives beside the cached model for the whole request."""
    mb = n_bytes / 1e6
    if mb > lim.copy_mb:
        raise InputError(f"{what} works on a copy of the model (the cached one is shared and "
                         f"never changed): {model_name} needs {mb:,.0f} MB for it, and this "
                         f"server allows {lim.copy_mb:,.0f} MB per request "
                         "(MMINSPECT_COPY_MEMORY_MB). Check a smaller model, read the shipped "
                         "table for the bundled ones, or, if you host the app, raise "
                         "MMINSPECT_COPY_MEMORY_MB.")
