"""bertviz's head and model views as HTML strings (an optional extra: its JavaScript loads
require.js, d3 and jQuery from a CDN in the browser, so it is blank offline)."""
from __future__ import annotations

import torch
from bertviz import head_view, model_view

from ..types import TextView

# bertviz writes every weight into its page (~14 bytes each, escaped). 110k weights keeps one
# update under 2 MB: 39 tokens for MiniLM's 6 x 12 heads, 27 for BERT-base's 12 x 12.
MAX_BERTVIZ_WEIGHTS = 110_000


def max_bertviz_tokens(n_layers: int, n_heads: int) -> int:
    return int((MAX_BERTVIZ_WEIGHTS / (n_layers * n_heads)) ** 0.5)


def bertviz_html(view: TextView, which: str = "head") -> str:
    """bertviz's `head` or `model` view for an inspected text, as a full HTML document."""
    if which not in ("head", "model"):
        raise ValueError(f"which must be 'head' or 'model', got {which!r}")
    n, limit = len(view.tokens), max_bertviz_tokens(view.attention.n_layers, view.attention.n_heads)
    if n > limit:
        return (f"<p>bertviz is limited to {limit} tokens for this model (this text has {n}): it "
                "sends every weight to the browser. Use the plotly views, which group long "
                "inputs, or shorten the text.</p>")
    # bertviz wants a tuple with one [batch, head, query, key] tensor per layer.
    # Rounded float64: bertviz writes each weight with Python's repr, and a float32 0.1234 would
    # print as 0.12340000271797180 (4x the bytes for digits no colour shows).
    attention = tuple(torch.from_numpy(w[None].astype("float64").round(3))
                      for w in view.attention.weights)
    fn = head_view if which == "head" else model_view
    return fn(attention, list(view.tokens), html_action="return").data
