"""Faults a public server meets end the one request, in the app's words, never the server:
a KeyboardInterrupt (any BaseException) inside a handler, a full disk, a server path in a
message."""
from __future__ import annotations

import errno

import gradio as gr
from gradio_client import Client

from mminspect.types import InputError
from mminspect.ui.events import bind, hide_paths

from conftest import free_port

OUTPUTS = ["out", "message"]


def on_interrupt(ctx, x):
    raise KeyboardInterrupt


def on_disk_full(ctx, x):
    raise OSError(errno.ENOSPC, "No space left on device", "/srv/app/cache/tmp1234.png")


def on_bad_path(ctx, x):
    raise InputError("No file at /home/app/mminspect/assets/miniclip2/examples.npz: give the path")


def on_ok(ctx, x):
    return {"out": x.upper()}


def test_bind_turns_each_fault_into_a_message(monkeypatch):
    warnings = []
    monkeypatch.setattr(gr, "Warning", lambda text, *a, **k: warnings.append(text))
    _, msg = bind(on_interrupt, None, OUTPUTS)("x")
    assert "interrupted" in msg and "kept" in msg
    _, msg = bind(on_disk_full, None, OUTPUTS)("x")
    assert "out of disk space" in msg and "OSError" not in msg and "/srv" not in msg
    _, msg = bind(on_bad_path, None, OUTPUTS)("x")
    assert "examples.npz" in msg and "/home" not in msg and "assets" not in msg
    assert len(warnings) == 3


def test_paths_are_cut_but_urls_and_fractions_are_not():
    text = hide_paths("see /usr/lib/python3/x.py, https://huggingface.co/gpt2/tree and 1/2 and/or")
    assert text == "see \u2026/x.py, https://huggingface.co/gpt2/tree and 1/2 and/or"


def test_a_keyboard_interrupt_in_a_handler_ends_that_request_not_the_server():
    with gr.Blocks() as demo:
        box, out, message = gr.Textbox(), gr.Textbox(), gr.Markdown()
        gr.Button().click(bind(on_interrupt, None, OUTPUTS), box, [out, message], api_name="boom")
        gr.Button().click(bind(on_ok, None, OUTPUTS), box, [out, message], api_name="ok")
    demo.queue()
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        for _ in range(2):
            _, msg = client.predict("a", api_name="/boom")
            assert "interrupted" in msg
        assert client.predict("still here", api_name="/ok")[0] == "STILL HERE"
    finally:
        demo.close()
