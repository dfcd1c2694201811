"""The app tab of models where one sequence reads another: the encoder–decoder view
(ui/seq2seq_view.py, T5) and the vision–language view (ui/vlm_view.py, LLaVA) as its two
sub-tabs."""
from __future__ import annotations

import gradio as gr

from . import seq2seq_view, vlm_view
from .context import AppContext
from .events import Components

TAB_INTRO = ("Models where one sequence **reads another**. An **encoder–decoder** (T5) writes "
             "a text while reading the source text through cross-attention. A **vision–language "
             "model** (LLaVA) turns the picture's patches into image tokens placed in its text, "
             "so each word it writes reads the patches. Hub checkpoints download on first use; "
             "a local folder saved with `save_pretrained` opens too.")


def build_tab(ctx: AppContext) -> dict[str, Components]:
    """The app tab: the encoder–decoder view and the vision–language view as sub-tabs."""
    gr.Markdown(TAB_INTRO)
    with gr.Tab("Encoder–decoder (T5)", id="seq2seq-t5"):
        t5 = seq2seq_view.build(ctx)
    with gr.Tab("Vision–language (LLaVA)", id="seq2seq-vlm"):
        vlm = vlm_view.build(ctx)
    return {"t5": t5, "vlm": vlm}
