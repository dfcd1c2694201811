"""Assemble a report: header (inputs, model and its hash, library version, date), the
sections of the result, the reproducing code; plotly.js inlined once, so the file opens
offline and the figures stay interactive."""
from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path

from plotly.offline import get_plotlyjs

from ..api.fingerprint import model_fingerprint
from ..types import InputError
from ..types.version import VERSION
from .code import reproduce
from .sections import SECTIONS, Section, table

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;
color:#1f2937}h1{font-size:1.6em}h2{font-size:1.2em;margin-top:28px;border-bottom:1px solid #ddd}
.caption{color:#4b5563;margin:4px 0 10px}table.facts{border-collapse:collapse;font-size:.92em}
table.facts th{text-align:left;font-weight:500;padding:3px 14px 3px 0;color:#374151}
table.facts td{padding:3px 0}pre{background:#f3f4f6;padding:12px;overflow-x:auto}
.row{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}img{max-width:100%}"""


def _model_name(result) -> str:
    first = getattr(result, "results", None)
    return (first[0] if first else result).model_name


def _render(section: Section) -> str:
    body = section.html
    if section.figure is not None:
        # the camera button saves SVG here (the app's plots save PNG): both formats exist
        body += section.figure.to_html(full_html=False, include_plotlyjs=False, config={
            "displaylogo": False, "toImageButtonOptions": {"format": "svg", "scale": 1},
            "showSendToCloud": False})          # an offline file uploads nothing
    caption = f'<p class="caption">{html.escape(section.caption)}</p>' if section.caption else ""
    return f"<section><h2>{html.escape(section.heading)}</h2>{caption}{body}</section>"


def report_html(result, *, code: str | None = None, title: str | None = None) -> str:
    """The report as one HTML string. code: the exact calls that made `result` (the CLI and
    the app pass theirs); default: rebuilt from the result's fields."""
    build = SECTIONS.get(type(result))
    if build is None:
        raise InputError(f"No report for a {type(result).__name__}; reports cover "
                         f"{', '.join(t.__name__ for t in SECTIONS)}.")
    name = _model_name(result)
    try:
        prints = model_fingerprint(name)
    except Exception as e:  # noqa: BLE001 - a report of a model that cannot be reloaded still opens
        prints = {"name": name, "weights_sha256": f"not computed ({type(e).__name__})"}
    facts = [("model", name)] + [(k.replace("_", " "), v) for k, v in prints.items() if k != "name"]
    facts += [("mminspect version", VERSION),
              ("made", datetime.now(timezone.utc).isoformat(timespec="seconds"))]
    heading = title or f"mminspect report: {type(result).__name__} on {name}"
    sections = "".join(_render(s) for s in build(result))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(heading)}</title><style>{STYLE}</style>"
            f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
            f"<h1>{html.escape(heading)}</h1>{table(facts)}{sections}"
            f"<section><h2>Reproduce it</h2><pre><code>{html.escape(code or reproduce(result))}"
            f"</code></pre></section></body></html>")


def report(result, path, *, code: str | None = None, title: str | None = None) -> Path:
    """Write the offline report of `result` to `path` (.html); returns the path."""
    path = Path(path)
    path.write_text(report_html(result, code=code, title=title), encoding="utf-8")
    return path
