"""Errors the user can act on. The UI shows their message as-is, so each says what was wrong
and what to do."""


class InputError(ValueError):
    """The user's input cannot be inspected (empty text, too long, wrong image...)."""


class OverBudget(InputError):
    """The request would take (or has taken) longer than the host's time budget allows. The
    message gives the estimate and what to change (a shorter text, fewer samples, a faster
    method); nothing of the request's result is kept."""


class ModelLoadError(RuntimeError):
    """A model could not be loaded (unknown name, failed hash check, not cached offline...)."""


class Cancelled(RuntimeError):
    """Long work stopped on purpose between two steps (the client left or pressed Stop).

    Raised by the api's loops when their `progress` callback raises it or `should_stop()`
    returns True, so the work ends within one step. Not an InputError: nothing was wrong with
    the input, and nobody is waiting for a message."""
