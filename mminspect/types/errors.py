"""Errors the user can act on. The UI shows their message as-is, so each says what was wrong
and what to do."""


class InputError(ValueError):
    """The user's input cannot be inspected (empty text, too long, wrong image...)."""


class ModelLoadError(RuntimeError):
    """A model could not be loaded (unknown name, failed hash check, not cached offline...)."""


class Cancelled(RuntimeError):
    """Long work stopped on purpose between two steps (the client left or pressed Stop)."""
