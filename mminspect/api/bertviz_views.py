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
    return OFFLINE_NOTICE + fn(attention, list(view.tokens), html_action="return").data + OFFLINE_CHECK


# bertviz's page needs require.js, d3 and jQuery from cdnjs in the *browser*. Said before it
# loads, and checked after: if nothing was drawn, the notice says the browser is offline
# (otherwise the frame would stay blank and read as a bug).
OFFLINE_NOTICE = ('<p id="mm-bv-status" style="font-family:sans-serif;color:#555">bertviz needs '
                  'internet in this browser: it is loading its JavaScript libraries (require.js, '
                  'd3, jQuery) from cdnjs.cloudflare.com…</p>')
OFFLINE_CHECK = """<script>
setTimeout(function () {
  var s = document.getElementById('mm-bv-status');
  if (document.querySelector('svg')) { s.remove(); return; }
  s.style.color = '#9a3412';
  s.textContent = 'bertviz could not load its libraries from cdnjs.cloudflare.com: this browser '
    + 'has no internet (or the CDN is blocked), so it cannot draw. The Model view, One head and '
    + 'Head view tabs show the same attention without internet.';
}, 6000);
</script>"""
