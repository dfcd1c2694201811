"""One mechanism for every handler of every tab.

A handler is a module-level function `on_x(ctx, *inputs) -> dict[str, value]` whose keys
name the components it fills. `bind(on_x, ctx, outputs)` turns it into what Gradio calls:
positional inputs in, one value per output out, `gr.skip()` for every output it did not name.

Why not raise `gr.Error`: gradio 6 then marks *every* output of the event with a red "Error"
pill and drops the values they held. A handled error instead shows its message
once — a toast and the tab's message line — and leaves every other output exactly as it was.

Long handlers also get `stop_if_client_left()`: gradio cancels a dropped client's event but
cannot stop a sync handler's thread, so loops check between steps and stop themselves.
"""
from __future__ import annotations

import errno
import functools
import html
import inspect
import logging
import re
import typing
from typing import Any, Callable

import gradio as gr
from gradio.context import LocalContext

from ..api.memory import release_memory
from ..types import Cancelled, InputError, ModelLoadError
from .i18n import translate_now

log = logging.getLogger("mminspect")
MESSAGE = "message"          # the output name of each tab's message line


def message_markdown(text: str, level: str = "warning") -> str:
    """The message line's Markdown; user text inside is escaped (no live HTML)."""
    icon = {"warning": "⚠️", "info": "ℹ️"}[level]
    return f"{icon} {html.escape(text, quote=False)}"


def _running_queue():
    """The queue of the server running this event. The request's app knows it; the
    `LocalContext.blocks` of a worker thread can be another Blocks whose queue never ran."""
    req = LocalContext.request.get(None)
    app = getattr(getattr(req, "request", None), "app", None)
    if app is not None and hasattr(app, "get_blocks"):
        return getattr(app.get_blocks(), "_queue", None)
    return getattr(LocalContext.blocks.get(None), "_queue", None)


def client_left() -> bool:
    """True when the event running in this thread lost its client (tab closed, Stop pressed).

    gradio drops such an event from its running jobs (Stop: /cancel cancels the task) or
    marks it `alive = False` (a closed connection: queueing.clean_events), but the sync
    handler's thread runs on; the only way to learn it is to look the event up. Outside an
    event (direct calls, tests) the client is never gone."""
    event_id = LocalContext.event_id.get(None)
    queue = _running_queue()
    if queue is None or event_id is None:
        return False
    for job in queue.active_jobs:
        for event in job or ():
            if event._id == event_id:
                return not event.alive
    return True                 # no longer among the running jobs: it was cancelled


def reporter(progress) -> Callable[[float, str], None]:
    """A `progress(fraction, desc)` callback for the api that also stops the work when the
    client has left (the api's loops call it between steps)."""

    def report(fraction: float, desc: str = "") -> None:
        if client_left():
            raise Cancelled("The client left; the work was stopped.")
        progress(fraction, desc=desc)

    return report


# An absolute path on the server (/a/b or /a/b/c.npz), not a URL (https://…/x) or a
# fraction (1/2): messages name the file, never where the server keeps it.
_PATH = re.compile(r"(?<![\w.:/~-])/(?:[\w.+@-]+/)+([\w.+@-]*)")


def hide_paths(text: str) -> str:
    """`text` with every absolute server path cut to its last part ("…/examples.npz")."""
    return _PATH.sub(lambda m: "…/" + m.group(1) if m.group(1) else "…/", text)


def failure_message(e: BaseException) -> str:
    """The message for an error no check foresaw (it is logged in full on the server)."""
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return ("The server is out of disk space, so this request could not be finished. "
                "Your input and the results on the page were kept; try again later.")
    if isinstance(e, MemoryError):
        return ("The server ran out of memory for this request. Your input and the results on "
                "the page were kept; try a shorter text or a smaller image.")
    if isinstance(e, OSError):
        return ("The server could not read or write a file it needs for this request. Your "
                "input and the results on the page were kept; try again, or report this.")
    return (f"Something went wrong ({type(e).__name__}). Your input and the results "
            "on the page were kept; try a shorter or different input, or report this.")


def _checked(values: dict, outputs: list[str], name: str) -> dict:
    unknown = set(values) - set(outputs)
    if unknown:  # a programming error, not a user's: fail loudly in tests
        raise KeyError(f"{name} filled {sorted(unknown)}, which are not among its outputs {outputs}")
    return values


def _shaped(values: list):
    """gradio takes a one-output event's return value as that output's value (a list would
    be read as the value itself), so one output returns its value, several a list."""
    return values[0] if len(values) == 1 else values


def picker(c: dict) -> Callable[[list[str]], list]:
    """comps(names) -> the panel's components of those names, in that order: the inputs and
    outputs lists an event takes, from the panel's {name: component} dict `c`."""
    return functools.partial(_components, c)


def _components(c: dict, names: list[str]) -> list:
    return [c[n] for n in names]


def bind(fn: Callable[..., dict[str, Any]], ctx, outputs: list[str],
         message: str | None = MESSAGE, release: bool = False) -> Callable[..., list]:
    """The Gradio function for handler `fn` with `ctx` bound as its first argument.

    outputs: the names of the event's output components, in the order given to gradio.
    message: the name of the message line among them (cleared on success).
    release: after the handler, give freed memory back to the system (model events and
    uploads: their large arrays would otherwise keep the process near its peak, see
    api/memory.py); at most once every few seconds, so bursts cost nothing extra."""
    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn)                     # in fn's module: gr.SelectData etc.
    # drop ctx (gradio passes only the inputs); gradio finds `evt: gr.SelectData` and
    # `progress=gr.Progress()` through the signature and the annotations
    params = [p.replace(annotation=hints.get(p.name, p.annotation))
              for p in list(sig.parameters.values())[1:]]

    def run(*args, **kwargs):
        try:
            return _run(*args, **kwargs)
        finally:
            if release:
                release_memory(min_interval_s=5.0)

    def _run(*args, **kwargs):
        try:
            values = _checked(dict(fn(ctx, *args, **kwargs)), outputs, fn.__name__)
        except Cancelled:
            log.info("%s stopped: its client left", fn.__name__)
            return _shaped([gr.skip() for _ in outputs])
        except (InputError, ModelLoadError) as e:
            text = hide_paths(str(e))
        except Exception as e:  # noqa: BLE001 - the boundary where every error becomes a message
            log.exception("handler %s failed", fn.__name__)
            text = failure_message(e)
        except BaseException as e:  # noqa: BLE001 - KeyboardInterrupt & co. in a worker thread
            # would otherwise reach gradio's event loop and stop the whole server for good
            log.exception("handler %s was interrupted", fn.__name__)
            text = ("This request was interrupted on the server and stopped; your input and the "
                    "results on the page were kept. Try again.")
        else:
            if message in outputs and message not in values:
                values[message] = ""                     # a success clears an old message
            return _shaped([values.get(n, gr.skip()) for n in outputs])
        gr.Warning(translate_now(text))        # in the page's language (the line: i18n_app.py)
        return _shaped([message_markdown(text) if n == message else gr.skip() for n in outputs])

    run.__name__, run.__qualname__, run.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    run.__signature__ = sig.replace(parameters=params, return_annotation=inspect.Signature.empty)
    run.__annotations__ = {p.name: p.annotation for p in params
                           if p.annotation is not inspect.Parameter.empty}
    return run


class Components(dict):
    """A tab's components by name. A name given twice is a bug (the second would silently
    replace the first in every event): refuse it where it happens."""

    def __setitem__(self, name: str, component) -> None:
        if name in self:
            raise KeyError(f"component name {name!r} is used twice in this tab")
        super().__setitem__(name, component)


def on_any(triggers: list, fn, inputs: list, outputs: list, **kw):
    """Several controls redraw the same outputs: ONE gradio event for all of them.

    Why: one event per control runs as separate requests that finish in any order, so after
    "row 2, then column 5" the answer for (row 2, old column) could arrive last and stay on
    screen while the sliders said otherwise. One event with trigger_mode "always_last" runs
    one request at a time and, when controls moved meanwhile, once more with their latest
    values. triggers: the controls' events, e.g. [layer.input, head.input] (input: the
    visitor's moves only; change: also the values the app sets)."""
    kw.setdefault("trigger_mode", "always_last")
    return gr.on(triggers, fn, inputs, outputs, **kw)
