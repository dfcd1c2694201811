"""A closed page's results leave the server in minutes, not gradio's hour: a real page in
Chromium stores a state, closes, and the server's session loses it once MMINSPECT_KEEP_CLOSED_S
has passed; an open page keeps its state. The app registers the same unload event."""
from __future__ import annotations

import time

import gradio as gr
import pytest
from browser_helpers import shared_browser
from conftest import free_port

from mminspect.ui import build_app
from mminspect.ui.hosting import forget_closed_sessions

BIG = "x" * 1_000_000          # a stand-in for a text's results (bytes held by the session)


def store(_):
    return BIG, "stored"


@pytest.fixture
def tiny_app():
    with gr.Blocks() as demo:
        state = gr.State(None)
        button = gr.Button("Store", elem_id="store")
        done = gr.Markdown(elem_id="done")
        button.click(store, button, [state, done])
    forget_closed_sessions(demo, keep_s=2)
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True)
    yield demo, f"http://127.0.0.1:{port}/"
    demo.close()


def held(demo) -> list[int]:
    """Per session: how many characters of state it still holds."""
    return [sum(len(v) for v in s.state_data.values() if isinstance(v, str))
            for s in demo.server_app.state_holder.session_data.values()]


def open_and_store(browser, url):
    page = browser.new_page()
    page.goto(url)
    page.click("#store")
    page.wait_for_selector("#done:has-text('stored')", timeout=30_000)
    return page


def test_a_closed_page_s_state_is_dropped_after_keep_s(request, tiny_app):
    demo, url = tiny_app
    browser = shared_browser(request.config)
    closed, still_open = open_and_store(browser, url), open_and_store(browser, url)
    assert sorted(held(demo)) == [len(BIG), len(BIG)]
    closed.close()
    deadline = time.time() + 30       # the heartbeat notices the close, then keep_s, then a sweep
    while time.time() < deadline and sorted(held(demo)) != [0, len(BIG)]:
        time.sleep(0.5)
    assert sorted(held(demo)) == [0, len(BIG)]        # only the closed page's state went
    still_open.close()


def test_the_app_registers_the_unload_event():
    demo = build_app()
    targets = [t for dep in demo.fns.values() for t in dep.targets]
    assert any(t[1] == "unload" for t in targets)
