"""Turn exceptions into messages a user can act on; never a traceback in the browser."""
from __future__ import annotations

import functools
import logging

import gradio as gr

from ..types import InputError, ModelLoadError

log = logging.getLogger("mminspect")


def user_errors(handler):
    """Wrap a Gradio handler: known errors show their message, anything else a short notice
    (the traceback goes to the server log), and the app keeps serving."""

    @functools.wraps(handler)
    def wrapped(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except (InputError, ModelLoadError) as e:
            raise gr.Error(str(e), print_exception=False) from e
        except gr.Error:
            raise
        except Exception as e:  # noqa: BLE001 - the boundary where every error becomes a message
            log.exception("handler %s failed", handler.__name__)
            raise gr.Error(f"Something went wrong ({type(e).__name__}: {e}). The input was kept; "
                           "try a shorter or different input, or report this.", print_exception=False) from e

    return wrapped
