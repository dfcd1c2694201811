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
    MMINSPECT_MAX_METHODS      [12]     methods in one list (compare, sanity check, image
                                        methods), after duplicates go
    MMINSPECT_MAX_ROWS         [1000]   rows of one data set explained in one call (dataset mode)
    MMINSPECT_LONG_THREADS     [half the cores, at least 1]  CPU threads of the long-job
                                        lane (the cheap lane keeps torch's default)

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
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields

import torch

from ..models.registry import model_lane
from ..types import InputError, OverBudget

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
    max_methods: int = 12
    max_rows: int = 1000

    ENV = {"max_chars": "MMINSPECT_MAX_CHARS", "max_labels": "MMINSPECT_MAX_LABELS",
           "max_label_chars": "MMINSPECT_MAX_LABEL_CHARS", "budget_s": "MMINSPECT_BUDGET_S",
           "over_budget": "MMINSPECT_OVER_BUDGET", "memory_mb": "MMINSPECT_ATTR_MEMORY_MB",
           "max_new_tokens": "MMINSPECT_MAX_NEW_TOKENS", "copy_mb": "MMINSPECT_COPY_MEMORY_MB",
           "precision": "MMINSPECT_PRECISION", "max_methods": "MMINSPECT_MAX_METHODS",
           "max_rows": "MMINSPECT_MAX_ROWS"}

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


def check_methods(methods, known, lim: Limits, what: str = "methods") -> list[str]:
    """A list of method names de-duplicated (first kept) and capped, each one known: the
    list that will run, or an InputError before any model work. Why: one request naming
    saliency 1,000 times ran it 1,000 times (390 s) under one budget check per run."""
    if isinstance(methods, str):
        methods = [methods]
    try:
        names = list(dict.fromkeys(str(m).strip() for m in methods))
    except TypeError:
        raise InputError(f"{what} must be a list of method names, e.g. ['saliency'].") from None
    unknown = [m for m in names if m not in known]
    if unknown:
        raise InputError(f"Unknown method {unknown[0][:60]!r}; choose from: {', '.join(known)}.")
    if not names:
        raise InputError(f"No {what} given; choose from: {', '.join(known)}.")
    if len(names) > lim.max_methods:
        raise InputError(f"{len(names)} {what} given; the limit is {lim.max_methods} "
                         "(MMINSPECT_MAX_METHODS). Keep the ones you need.")
    return names


# Threads of torch's CPU work, per lane. torch.set_num_threads acts on the calling thread
# (and on threads started later), so each lane sets its own count on entry: a worker thread
# that ran a long job must not keep its single thread for the next cheap click.
DEFAULT_THREADS = torch.get_num_threads()


def long_threads() -> int:
    """MMINSPECT_LONG_THREADS, default half the cores: on 2 cores the long job gets one and
    leaves the other to the cheap clicks (measured in docs/performance-classroom.md)."""
    raw = os.environ.get("MMINSPECT_LONG_THREADS", "").strip()
    try:
        return max(1, int(raw)) if raw else max(1, DEFAULT_THREADS // 2)
    except ValueError:
        raise ValueError(f"MMINSPECT_LONG_THREADS must be a whole number, got {raw!r}") from None


@contextmanager
def lane(name: str, threads: int | None = None):
    """Run a request in lane `name`: its own copies of the models (models/registry.py) and
    `threads` CPU threads (default: torch's own count)."""
    want = threads or DEFAULT_THREADS
    if torch.get_num_threads() != want:
        torch.set_num_threads(want)
    try:
        with model_lane(name):
            yield
    finally:
        if torch.get_num_threads() != DEFAULT_THREADS:
            torch.set_num_threads(DEFAULT_THREADS)


# One deadline per request: the app's event (ui/lanes.py) or a call that runs several
# budgeted parts (a sanity check's maps, several methods) opens it, and every budgeted part
# inside takes what is left of it, not a fresh budget of its own.
_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("mminspect_deadline", default=None)


@contextmanager
def request_budget(budget_s: float | None = None):
    """Inside: the whole request has `budget_s` seconds from now (default the host's
    MMINSPECT_BUDGET_S). A request_budget inside another never extends the outer one."""
    total = limits().budget_s if budget_s is None else float(budget_s)
    end = time.perf_counter() + total
    outer = _DEADLINE.get()
    token = _DEADLINE.set(min(outer, (end, total)) if outer is not None else (end, total))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


@contextmanager
def without_deadline():
    """Inside: no request deadline. For a call that keeps its own clock between steps that
    must stay exact: dataset mode checks the whole call's budget between rows, so that no
    row is made coarser for running late in the request."""
    token = _DEADLINE.set(None)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def budget_left(budget_s=None, lim: Limits | None = None) -> float:
    """Seconds the next budgeted part may take (see budget_in_force)."""
    return budget_in_force(budget_s, lim)[0]


def budget_in_force(budget_s=None, lim: Limits | None = None) -> tuple[float, float, float]:
    """(left, total, spent): the seconds the next budgeted part may take — its own budget
    (default the host's), never past the request's deadline — and, for its messages, the
    budget that sets that limit and the seconds of it already spent. Raises OverBudget,
    telling how long the request has run, when nothing is left."""
    lim = lim or limits()
    if budget_s is None:
        own = lim.budget_s
    else:
        try:
            own = float(budget_s)
        except (TypeError, ValueError):
            raise InputError(f"budget_s must be a number of seconds, got {budget_s!r}.") from None
        if not own > 0:
            raise InputError(f"budget_s must be > 0 seconds (math.inf for none), got {budget_s}.")
    deadline = _DEADLINE.get()
    if deadline is None:
        return own, own, 0.0
    end, total = deadline
    left = end - time.perf_counter()
    if left <= 0:
        raise OverBudget(f"Stopped: this request has used its whole time budget of {total:g} s "
                         "(MMINSPECT_BUDGET_S covers the whole request, every part of it). "
                         "Ask for less at once: fewer methods, a shorter text.")
    return (own, own, 0.0) if own <= left else (left, total, total - left)
