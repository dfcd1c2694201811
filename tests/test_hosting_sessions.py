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


# --- sessions that never open a page (raw API calls) ------------------------------------

import json                                   # noqa: E402
import threading                              # noqa: E402
import urllib.request                         # noqa: E402

import numpy as np                            # noqa: E402
from starlette.middleware import Middleware   # noqa: E402

from mminspect.ui.sessions import SessionsMiddleware, expire_sessions, size_of   # noqa: E402

MB = 2**20


def keep_array(n_mb):
    """Results of `n_mb` MB held in the session (as an inspect's TextView would be)."""
    return np.ones(int(n_mb) * MB // 8), f"kept {n_mb}"


def keep_second(n_mb):
    return np.ones(int(n_mb) * MB // 8), "second"


@pytest.fixture
def api_app():
    with gr.Blocks() as demo:
        first, second = gr.State(None), gr.State(None)
        n, done = gr.Number(value=1), gr.Textbox()
        gr.Button().click(keep_array, n, [first, done], api_name="keep")
        gr.Button().click(keep_second, n, [second, done], api_name="keep_second")
    budget = expire_sessions(demo, idle_s=2, session_bytes=64 * MB, total_bytes=200 * MB)
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True,
                app_kwargs={"middleware": [Middleware(SessionsMiddleware)]})
    yield demo, f"http://127.0.0.1:{port}/", budget
    demo.close()


def raw_call(url: str, api: str, n_mb: int, session: str | None = None) -> str:
    """POST /gradio_api/call/<api>, then read its stream to the end (as curl would)."""
    body = {"data": [n_mb]} | ({"session_hash": session} if session else {})
    req = urllib.request.Request(f"{url}gradio_api/call/{api}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        event_id = json.loads(r.read())["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/{api}/{event_id}", timeout=60) as r:
        return r.read().decode()


def held_mb(demo) -> float:
    return sum(size_of(v) for s in list(demo.server_app.state_holder.session_data.values())
               for v in list(s.state_data.values())) / MB


def wait_until(check, timeout=20.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if check():
            return True
        time.sleep(0.25)
    return check()


def test_raw_api_sessions_are_released_after_the_idle_time(api_app):
    demo, url, budget = api_app
    for _ in range(12):
        assert "kept 10" in raw_call(url, "keep", 10)
    assert held_mb(demo) >= 100               # 12 sessions x 10 MB, none opened a page
    assert wait_until(lambda: held_mb(demo) == 0)
    assert not demo.server_app.state_holder.session_data and budget.dropped >= 12


def test_an_open_page_keeps_its_results_past_the_idle_time(api_app):
    demo, url, _ = api_app
    raw_call(url, "keep", 10, session="page1")
    heartbeat = urllib.request.urlopen(f"{url}gradio_api/heartbeat/page1", timeout=30)
    try:
        raw_call(url, "keep", 10, session="api1")
        assert wait_until(lambda: "api1" not in demo.server_app.state_holder.session_data)
        assert "page1" in demo.server_app.state_holder.session_data
        assert held_mb(demo) >= 10
    finally:
        heartbeat.close()
    assert wait_until(lambda: held_mb(demo) == 0)      # closed: it goes too


def test_a_session_past_its_byte_budget_drops_its_oldest_values(api_app):
    demo, url, _ = api_app
    stop = threading.Event()

    def heartbeat():                      # an open page, so only the byte budget applies
        with urllib.request.urlopen(f"{url}gradio_api/heartbeat/big", timeout=30) as r:
            while not stop.is_set():
                r.readline()

    threading.Thread(target=heartbeat, daemon=True).start()
    try:
        raw_call(url, "keep", 40, session="big")
        raw_call(url, "keep_second", 40, session="big")          # 80 MB > 64 MB
        session = demo.server_app.state_holder.session_data["big"]
        assert wait_until(lambda: len(session.state_data) == 1)
        (kept,) = session.state_data.values()
        assert kept.nbytes == 40 * MB
    finally:
        stop.set()


def test_all_sessions_stay_within_the_total_budget_least_recently_used_first(api_app):
    demo, url, _ = api_app
    stop = threading.Event()
    pages = [f"page{i}" for i in range(5)]

    def heartbeat(session):
        with urllib.request.urlopen(f"{url}gradio_api/heartbeat/{session}", timeout=30) as r:
            while not stop.is_set():
                r.readline()

    for session in pages:
        threading.Thread(target=heartbeat, args=(session,), daemon=True).start()
    try:
        for session in pages:                                  # 5 x 60 MB > 200 MB
            raw_call(url, "keep", 60, session=session)
        assert wait_until(lambda: held_mb(demo) <= 200)
        left = set(demo.server_app.state_holder.session_data)
        assert "page4" in left and "page0" not in left         # the oldest went first
    finally:
        stop.set()


def rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def test_raw_inspect_calls_leave_rss_near_warm_up_after_expiry(monkeypatch):
    """The app itself, API sessions idle 3 s: 10 raw inspects of a long text (the load suite
    does 100 at 512 tokens) leave RSS within 15 % of its warm-up once they expired."""
    from mminspect.api.memory import release_memory
    from mminspect.ui import build_app, launch_kwargs
    monkeypatch.setenv("MMINSPECT_SESSION_IDLE_S", "3")
    demo = build_app()
    port = free_port()
    demo.launch(**launch_kwargs(port), prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    text = " ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 38)
    args = ["minilm", "", text, "", "", 0.05, False, 0, 0]

    def call():
        req = urllib.request.Request(f"{url}gradio_api/call/inspect_text",
                                     json.dumps({"data": args}).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            event_id = json.loads(r.read())["event_id"]
        with urllib.request.urlopen(f"{url}gradio_api/call/inspect_text/{event_id}", timeout=300) as r:
            out = r.read().decode()
        assert "event: complete" in out, out[-300:]

    holder = lambda: demo.server_app.state_holder.session_data   # noqa: E731
    try:
        call()                                       # warm-up: the model, the figures' code
        assert wait_until(lambda: not holder(), timeout=30)
        release_memory(full_gc=True)
        warm = rss_mb()
        budget = demo._mminspect_budget
        budget.idle_s = 3600                         # hold all ten while they run ...
        for _ in range(10):
            call()
        peak = rss_mb()
        assert len(holder()) == 10 and peak > warm * 1.15   # (so the check below can fail)
        budget.idle_s = 3                            # ... then let them expire
        assert wait_until(lambda: not holder(), timeout=30)
        time.sleep(1.5)                              # the sweep's own trim runs in a thread
        after = rss_mb()
        print(f"RSS warm-up {warm:.0f} MB, after 10 calls {peak:.0f} MB, after expiry {after:.0f} MB")
        assert after <= warm * 1.15, (warm, peak, after)
    finally:
        demo.close()
