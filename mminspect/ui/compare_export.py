"""The "Save numbers" and "Save report" buttons of a tab with a Compare A/B panel: when a comparison is
on screen, the files carry both sides (the library's `save_result` / `report` of the
`Comparison`: both inputs and models, what changed, the difference figures).

"On screen" means: a comparison was made and its side A is still the tab's current input A
(the text box, or the image A the panel compared). After A is changed, the comparison no
longer describes what the tab shows, and the tab's own result is saved as before.
"""
from __future__ import annotations

import numpy as np

from ..types.compare import Comparison
from .context import AppContext
from .events import MESSAGE, bind
from .share import on_save_json, on_save_report


def shows_a(diff, current_a, used_a=None) -> bool:
    """Is `diff` a comparison whose side A is `current_a`? Texts are compared with A's own
    text; images with `used_a`, the image A the panel was given (A's view holds it resized)."""
    if not isinstance(diff, Comparison):
        return False
    if isinstance(current_a, str):
        return getattr(diff.a, "text", None) == current_a
    if isinstance(current_a, np.ndarray) and isinstance(used_a, np.ndarray):
        return current_a.shape == used_a.shape and np.array_equal(current_a, used_a)
    return False


def on_save_json_both(ctx: AppContext, diff, current_a, used_a, *results) -> dict:
    return on_save_json(ctx, diff if shows_a(diff, current_a, used_a) else None, *results)


def on_save_report_both(ctx: AppContext, diff, current_a, used_a, *results) -> dict:
    return on_save_report(ctx, diff if shows_a(diff, current_a, used_a) else None, *results)


def wire_compare_exports(ctx: AppContext, c: dict, save_json, save_report, states: list[str],
                         comparison: str, current_a: str, used_a: str | None = None) -> None:
    """share.wire_exports for a tab with a Compare panel. comparison: the panel's state;
    current_a: the tab's input A; used_a: the state holding the image A compared (images)."""
    quick = {"concurrency_limit": 2, "api_visibility": "private"}
    outs = ["export_file", MESSAGE]
    inputs = [c[comparison], c[current_a], c[used_a or comparison]] + [c[s] for s in states]
    save_json.click(bind(on_save_json_both, ctx, outs), inputs, [c[o] for o in outs], **quick)
    save_report.click(bind(on_save_report_both, ctx, outs), inputs, [c[o] for o in outs], **quick)
