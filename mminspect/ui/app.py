"""Compose the tabs into one Gradio app, and the settings it launches with."""
from __future__ import annotations

import logging
import os
import threading

import gradio as gr
from starlette.middleware import Middleware

from .. import api
from . import attention_tab, attribution_tab, clip_tab, lessons_tab, text_tab
from .context import AppContext, default_context
from .hosting import (HeadersMiddleware, forget_closed_sessions, guard_inputs,
                      limit_queue_per_client)
from .links import wire_links

INTRO = ("# mminspect\nOpen a transformer and see *why* it predicts what it predicts: "
         "**Text** — attention of every layer and head and the model's prediction; "
         "**Attributions** — which words push a score up or down, and how far to trust the map; "
         "**Image–text** — how a CLIP-style model picks a label and which patches carried it; "
         "**How attention works** — one real head step by step, and broken on purpose; "
         "**Lessons** — short guided questions answered by the real model.")


# The message line under each tab's buttons: visible, but not alarming.
CSS = ".mm-message p { color: #9a3412; font-weight: 500; margin: 4px 0; }"


def build_app(ctx: AppContext | None = None) -> gr.Blocks:
    ctx = ctx or default_context()
    # delete_cache: gradio keeps every upload and output image in its cache folder; drop
    # files older than an hour, checked every 10 minutes (else ~13 files per image request).
    with gr.Blocks(title="mminspect", delete_cache=(600, 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs() as tabs:
            linked = {}                          # tab id -> its components, for links
            with gr.Tab("Text", id="text"):
                linked["text"] = text_tab.build(ctx)
            with gr.Tab("Attributions", id="attributions"):
                linked["attributions"] = attribution_tab.build(ctx)
            with gr.Tab("Image–text", id="image-text"):
                linked["image-text"] = clip_tab.build(ctx)
            with gr.Tab("How attention works", id="attention"):
                attention, trace_event = attention_tab.build(ctx)
                linked["attention"] = attention
            with gr.Tab("Lessons", id="lessons"):
                linked["lessons"] = lessons_tab.build(ctx, attention, tabs, trace_event)
        wire_links(demo, ctx, tabs, linked)      # open a view from its link (share.py)
    # Model events share one queue ("model", ctx.model_concurrency slots): hooks and caches
    # are shared by all users. Redraws have no limit: they never wait behind a model event.
    demo.queue(default_concurrency_limit=1, max_size=64)
    limit_queue_per_client(demo)          # one visitor cannot hold every model slot
    guard_inputs(demo)                    # malformed API calls get the app's own message
    forget_closed_sessions(demo)          # a closed page's results go in minutes, not an hour
    return demo


def launch_kwargs(port: int | None = None) -> dict:
    """Launch settings. No server_name: Spaces sets GRADIO_SERVER_NAME; never share=True."""
    port = port or int(os.environ.get("GRADIO_SERVER_PORT", 7860))
    return {"server_port": port, "share": False, "theme": gr.themes.Soft(), "css": CSS,
            "footer_links": ["api", "gradio"], "max_file_size": "10mb",
            "app_kwargs": {"middleware": [Middleware(HeadersMiddleware)]}}


def warm_up(names: tuple[str, ...] = ("minilm", "miniclip")) -> threading.Thread:
    """Load the default models in the background, so the server answers at once and the
    first Inspect does not wait for weights (a failure here is logged; the UI reports it)."""

    def load_all():
        for name in names:
            try:
                api.load(name)
            except Exception:  # noqa: BLE001 - logged; the user gets the message on first use
                logging.getLogger("mminspect").exception("warm-up of %s failed", name)

    thread = threading.Thread(target=load_all, name="mminspect-warm-up", daemon=True)
    thread.start()
    return thread
