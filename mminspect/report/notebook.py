"""Notebook views: in Jupyter a result shows itself as HTML (`_repr_html_`): a text view as
its head grid and prediction, an attribution as the highlighted text and its numbers, a CLIP
view as the chain and maps: the sections of its report, without the page around them.

Why attached here: result classes live in `types` (numpy only, below `figures`), so the
facade attaches their HTML view when `mminspect` is imported (`install()`); the classes keep
working without it. plotly.js is sent with the first view of the process and reused by the
next ones (Jupyter keeps it in the page; a saved notebook carries it in that first output)."""
from __future__ import annotations

import html

from plotly.offline import get_plotlyjs

from .document import _render
from .sections import SECTIONS

_SENT = {"plotly": False}


def _plotly_once() -> str:
    if _SENT["plotly"]:
        return ""
    _SENT["plotly"] = True
    return f'<script type="text/javascript">{get_plotlyjs()}</script>'


def notebook_html(result) -> str:
    """The HTML a notebook shows for `result`."""
    build = SECTIONS[type(result)]
    name = getattr(result, "model_name", "") or getattr(result.results[0], "model_name", "")
    head = f"<b>{html.escape(type(result).__name__)}</b> · {html.escape(name)}"
    body = "".join(_render(s) for s in build(result))
    return f'<div class="mminspect-view">{_plotly_once()}<p>{head}</p>{body}</div>'


def install() -> None:
    for cls in SECTIONS:
        cls._repr_html_ = notebook_html
