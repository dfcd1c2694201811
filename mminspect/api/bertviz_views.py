"""bertviz's head and model views as HTML strings (an optional extra: its JavaScript loads
require.js, d3 and jQuery from a CDN in the browser, so it is blank offline)."""
from __future__ import annotations

import torch
from bertviz import head_view, model_view

from ..types import TextView

MAX_BERTVIZ_TOKENS = 128  # bertviz draws every line in the browser; past this it crawls


def bertviz_html(view: TextView, which: str = "head") -> str:
    """bertviz's `head` or `model` view for an inspected text, as a full HTML document."""
    if which not in ("head", "model"):
        raise ValueError(f"which must be 'head' or 'model', got {which!r}")
    n = len(view.tokens)
    if n > MAX_BERTVIZ_TOKENS:
        return (f"<p>bertviz is limited to {MAX_BERTVIZ_TOKENS} tokens here (this text has {n}); "
                "use the plotly views above, which downsample long inputs.</p>")
    # bertviz wants a tuple with one [batch, head, query, key] tensor per layer.
    attention = tuple(torch.from_numpy(w[None]) for w in view.attention.weights)
    fn = head_view if which == "head" else model_view
    return fn(attention, list(view.tokens), html_action="return").data
