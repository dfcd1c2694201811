"""Figures: numpy results in, plotly figures / HTML strings out. Never imports torch."""
from .attention import (head_heatmap, head_summary_figure, head_view, hidden_norms_figure,
                        model_view, rollout_figure)
from .compare import compare_head_figure, head_change_figure, patch_change_figure, word_change_figure
from .html import iframe_srcdoc
from .layout import note_figure
from .lens import logit_lens_figure

attention_grid = model_view  # the name the design notes use: mi.figures.attention_grid(view.attention)

__all__ = ["compare_head_figure", "head_change_figure", "patch_change_figure", "word_change_figure", "attention_grid", "head_heatmap", "head_summary_figure", "head_view",
           "hidden_norms_figure", "iframe_srcdoc", "logit_lens_figure", "note_figure", "model_view", "rollout_figure"]
