"""Compose the tabs into one Gradio app, and the settings it launches with."""
from __future__ import annotations

import logging
import os
import threading

import gradio as gr
from starlette.middleware import Middleware

from .. import api
from . import attention_tab, attribution_tab, clip_tab, fusion_tab, lessons_tab, text_tab
from . import dataset_tab, seq2seq_tab
from .allocator import tune_allocator
from .clients import cancel_unheard, limit_queue_per_client
from .context import AppContext, default_context
from .guards import guard_inputs
from .i18n_app import add_language_picker, localize
from .hosting import HeadersMiddleware, configure_logging, forget_closed_sessions
from .lanes import install_lanes
from .links import wire_links
from .plot_urls import HEAD as PLOT_URLS_HEAD
from .sessions import SessionsMiddleware, expire_sessions
from .uploads import UploadQuota, upload_keep_s

# Before any worker thread allocates: fixed glibc thresholds keep RSS flat in gradio's
# worker threads (allocator.py says why).
tune_allocator()
configure_logging()                     # MMINSPECT_LOG_LEVEL, for a host's log

INTRO = ("# mminspect\nOpen a transformer and see *why* it predicts what it predicts: "
         "**Text** — attention of every layer and head and the model's prediction; "
         "**Attributions** — which words push a score up or down, and how far to trust the map; "
         "**Image–text** — how a CLIP-style model picks a label and which patches carried it; "
         "**Fusion** — a model that reads words and patches in one sequence, where a word "
         "attends to a patch; **Dataset** — a whole table explained at once; "
         "**How attention works** — one real head step by step, and broken on purpose; "
         "**Lessons** — short guided questions answered by the real model.")


# The message line under each tab's buttons: visible, but not alarming.
CSS = ".mm-message p { color: #9a3412; font-weight: 500; margin: 4px 0; }"


def build_app(ctx: AppContext | None = None) -> gr.Blocks:
    ctx = ctx or default_context()
    # delete_cache: gradio keeps every upload and output image in its cache folder; drop
    # files older than the upload quota's window (30 min by default), checked every 5
    # minutes (else ~13 files per image request; uploads.py counts what is kept).
    keep = upload_keep_s()
    with gr.Blocks(title="mminspect", delete_cache=(min(300, keep), keep)) as demo:
        with gr.Row():
            gr.Markdown(INTRO)
            add_language_picker(demo)            # English / 中文 (i18n_page.py)
        with gr.Tabs() as tabs:
            linked = {}                          # tab id -> its components, for links
            with gr.Tab("Text", id="text"):
                linked["text"] = text_tab.build(ctx)
            with gr.Tab("Attributions", id="attributions"):
                linked["attributions"] = attribution_tab.build(ctx)
            with gr.Tab("Image–text", id="image-text"):
                linked["image-text"] = clip_tab.build(ctx)
            with gr.Tab("Fusion", id="fusion"):
                fusion_tab.build(ctx)
            with gr.Tab("T5 & VLM", id="seq2seq"):
                seq2seq_tab.build_tab(ctx)
            with gr.Tab("Dataset", id="dataset"):
                dataset_tab.build(ctx)
            with gr.Tab("How attention works", id="attention"):
                attention, trace_event = attention_tab.build(ctx)
                linked["attention"] = attention
            with gr.Tab("Lessons", id="lessons"):
                linked["lessons"] = lessons_tab.build(ctx, attention, tabs, trace_event)
        wire_links(demo, ctx, tabs, linked)      # open a view from its link (share.py)
    # Model events share one queue ("model", ctx.model_concurrency slots): hooks and caches
    # are shared by all users. Redraws have no limit: they never wait behind a model event.
    demo.queue(default_concurrency_limit=1, max_size=64)
    install_lanes(demo)                   # long jobs in their own lane, with their own models
    limit_queue_per_client(demo)          # one visitor cannot hold every model slot
    cancel_unheard(demo)                  # nobody listening: the event does not run
    guard_inputs(demo)                    # every input checked first, in the app's words
    forget_closed_sessions(demo)          # a closed page's results go in minutes, not an hour
    expire_sessions(demo)                 # API sessions too, and within a byte budget
    localize(demo)                        # every shown text in English and Chinese (i18n_app.py)
    return demo


def launch_kwargs(port: int | None = None) -> dict:
    """Launch settings. No server_name: Spaces sets GRADIO_SERVER_NAME; never share=True."""
    port = port or int(os.environ.get("GRADIO_SERVER_PORT", 7860))
    return {"server_port": port, "share": False, "theme": gr.themes.Soft(), "css": CSS,
            "head": PLOT_URLS_HEAD,                # figures stay drawn when the link changes
            "footer_links": ["api", "gradio"], "max_file_size": "10mb",
            "app_kwargs": {"middleware": [Middleware(HeadersMiddleware),
                                          Middleware(SessionsMiddleware),
                                          Middleware(UploadQuota)]}}


def warm_up(names: tuple[str, ...] = ("minilm", "miniclip2")) -> threading.Thread:
    """Load the models the first views use (the Text tab's MiniLM, the Image–text tab's
    mini-CLIP 2) in the background, so the server answers at once and the first view does
    not wait for weights (a failure here is logged; the UI reports it)."""

    def load_all():
        for name in names:
            try:
                api.load(name)
            except Exception:  # noqa: BLE001 - logged; the user gets the message on first use
                logging.getLogger("mminspect").exception("warm-up of %s failed", name)

    thread = threading.Thread(target=load_all, name="mminspect-warm-up", daemon=True)
    thread.start()
    return thread
