"""Embedding third-party HTML safely."""
from __future__ import annotations

import html


def iframe_srcdoc(document: str, height: int = 620) -> str:
    """Put a full HTML document with scripts in a sandboxed iframe.

    Scripts inside `gr.HTML` never run, so the document goes in `srcdoc`, escaped (quotes
    included, or the attribute would end early). `allow-scripts` without `allow-same-origin`:
    the document's scripts run, but cannot read the app's cookies or page.
    """
    return (f'<iframe sandbox="allow-scripts" style="width:100%;height:{height}px;border:0" '
            f'srcdoc="{html.escape(document, quote=True)}"></iframe>')
