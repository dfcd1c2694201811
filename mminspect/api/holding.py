"""Every public function that takes a model holds that model's lock (availability.exclusive)
for its whole run.

Why: the attention captures, captum's layer methods and the causal lab put temporary hooks
and patches on the model object; a second thread's forward pass on the same object in the
meantime runs through them (two threads tracing one MiniLM raised "the size of tensor a (5)
must match the size of tensor b (13)"). The app gives each lane its own copies, so this
matters to library users who share one model between threads; calls on different models
still run side by side. The lock is re-entrant: a caller that already holds it (the app's
handlers) goes straight in.
"""
from __future__ import annotations

import functools
import inspect
from contextlib import ExitStack

from .availability import exclusive

MODEL_ARGS = ("model", "model_b")


def holds_model(fn):
    """`fn` run with the lock of each loaded model it is given, taken in one fixed order so
    two calls holding the same two models cannot wait on each other. Other callables come
    back as they are."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return fn
    names = [n for n in MODEL_ARGS if n in sig.parameters]
    if not names or inspect.isclass(fn):
        return fn

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            given = sig.bind_partial(*args, **kwargs).arguments
        except TypeError:
            return fn(*args, **kwargs)           # fn's own message for a wrong call
        # a loaded model only: a registry name is loaded by fn itself, after its inputs are
        # checked (a bad input is refused before any load); share a loaded model, not a name
        models = [given[n] for n in names if given.get(n) is not None
                  and not isinstance(given[n], (str, bytes))]
        locks = {id(lock): lock for lock in map(exclusive, models)}
        with ExitStack() as stack:
            for key in sorted(locks):
                stack.enter_context(locks[key])
            return fn(*args, **kwargs)
    return run


def hold_models(namespace: dict, names, skip=()) -> None:
    """Replace each public function of `namespace` that takes a model by its holds_model."""
    for name in names:
        if name not in skip and callable(namespace.get(name)):
            namespace[name] = holds_model(namespace[name])
