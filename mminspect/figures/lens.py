"""The logit lens as a heatmap: layers (rows) x positions (columns), the top token written
in each cell, coloured by its probability; and the rank of the final prediction per layer."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..types import LogitLens
from .layout import plotly_text, unique_labels

MAX_POSITIONS = 48   # columns; more would be unreadable (and heavy: k strings per cell)


def shown_positions(lens: LogitLens, keep_first: list[int]) -> np.ndarray:
    """`keep_first` positions (e.g. the [MASK]s), then the last positions, up to MAX_POSITIONS."""
    n = len(lens.tokens)
    if n <= MAX_POSITIONS:
        return np.arange(n)
    rest = [i for i in range(n - 1, -1, -1) if i not in keep_first]
    return np.array(sorted(keep_first[:MAX_POSITIONS] + rest[: MAX_POSITIONS - len(keep_first[:MAX_POSITIONS])]))


def logit_lens_figure(lens: LogitLens, keep_first: list[int] | None = None) -> go.Figure:
    cols = shown_positions(lens, keep_first or [])
    x = unique_labels([plotly_text(lens.tokens[i]) for i in cols])
    top1 = [[plotly_text(lens.top_tokens[layer][i][0]) for i in cols]
            for layer in range(len(lens.layer_names))]
    hover = [["<br>".join(f"{plotly_text(repr(t))} {p:.2f}"
                          for t, p in zip(lens.top_tokens[layer][i], lens.top_probs[layer, i]))
              for i in cols] for layer in range(len(lens.layer_names))]
    rank = np.log10(1 + lens.final_rank[:, cols]).astype(np.float32)          # [layer+1, position]
    fig = make_subplots(rows=2, cols=1, vertical_spacing=0.14,
                        subplot_titles=[f"top token after each layer (through the {lens.head}); "
                                        "colour = its probability",
                                        "rank of the final prediction at each layer (0 = already on top)"])
    fig.add_trace(go.Heatmap(z=lens.top_probs[:, cols, 0], x=x, y=lens.layer_names, text=top1,
                             texttemplate="%{text}", textfont={"size": 10}, customdata=hover,
                             colorscale="Blues", zmin=0, zmax=1, colorbar={"title": {"text": "p"}, "y": 0.78, "len": 0.45},
                             hovertemplate="%{y}, position %{x}<br>%{customdata}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Heatmap(z=rank, x=x, y=lens.layer_names, text=lens.final_rank[:, cols],
                             texttemplate="%{text}", textfont={"size": 9}, colorscale="Reds",
                             colorbar={"title": {"text": "log10(1+rank)"}, "y": 0.22, "len": 0.45},
                             hovertemplate="%{y}, position %{x}<br>rank %{text}<extra></extra>"), row=2, col=1)
    fig.update_yaxes(autorange="reversed")
    title = "Layer by layer" + (f" (showing {len(cols)} of {len(lens.tokens)} positions)"
                                if len(cols) < len(lens.tokens) else "")
    fig.update_layout(title=title, height=2 * (60 + 26 * len(lens.layer_names)) + 160,
                      margin={"l": 10, "r": 10, "t": 70, "b": 10})
    return fig
