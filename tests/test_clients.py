"""A queue one script cannot take over: the client's address comes from what the host can
trust (the socket, or X-Forwarded-For through MMINSPECT_TRUSTED_PROXIES proxies only), and
events whose caller never listens, or has gone, do not run for nobody."""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio_client import Client
from starlette.middleware import Middleware

from mminspect.ui import clients, hosting
from mminspect.ui.events import client_left
from mminspect.ui.sessions import SessionsMiddleware

from conftest import free_port


@pytest.mark.parametrize("proxies, header, peer, expected", [
    (0, "6.6.6.6", "127.0.0.1", "127.0.0.1"),                 # no proxy trusted: the socket
    (1, "6.6.6.6, 10.0.0.1", "127.0.0.1", "10.0.0.1"),        # one proxy appended the client
    (1, "10.0.0.1", "127.0.0.1", "10.0.0.1"),
    (2, "6.6.6.6, 10.0.0.1, 172.16.0.1", "127.0.0.1", "10.0.0.1"),
    (1, "", "127.0.0.1", "127.0.0.1"),                        # the header missing: the socket
])
def test_the_address_comes_from_the_trusted_end_of_the_chain(proxies, header, peer, expected):
    request = SimpleNamespace(client=SimpleNamespace(host=peer),
                              headers={"x-forwarded-for": header} if header else {})
    assert clients.client_address(request, proxies) == expected


def test_a_space_trusts_one_proxy_by_default(monkeypatch):
    monkeypatch.delenv("MMINSPECT_TRUSTED_PROXIES", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert clients.trusted_proxies() == 0
    monkeypatch.setenv("SPACE_ID", "someone/mminspect")
    assert clients.trusted_proxies() == 1
    monkeypatch.setenv("MMINSPECT_TRUSTED_PROXIES", "2")
    assert clients.trusted_proxies() == 2


RAN: list[str] = []


def slow(x):
    RAN.append(x)
    time.sleep(1.5)
    return x


def watch_client(x):
    """Runs until its client leaves (or 20 s), checking as the app's long loops do."""
    start = time.time()
    while time.time() - start < 20:
        if client_left():
            RAN.append(f"stopped:{time.time():.3f}")
            return x
        time.sleep(0.05)
    RAN.append("ran to the end")
    return x


def redraw(x):
    return x


@pytest.fixture
def tiny_app(monkeypatch, request):
    monkeypatch.setenv("MMINSPECT_TRUSTED_PROXIES", str(getattr(request, "param", 1)))
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    RAN.clear()
    with gr.Blocks() as demo:
        box = gr.Textbox()
        gr.Button().click(slow, box, box, api_name="slow", concurrency_id=hosting.MODEL_QUEUE,
                          concurrency_limit=1)
        gr.Button().click(watch_client, box, box, api_name="watch",
                          concurrency_id=hosting.MODEL_QUEUE, concurrency_limit=1)
        gr.Button().click(redraw, box, box, api_name="redraw", concurrency_limit=None)
    demo.queue(max_size=64)
    clients.limit_queue_per_client(demo, per_session=2, per_address=8)
    clients.cancel_unheard(demo, grace_s=1.0)
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True,
                app_kwargs={"middleware": [Middleware(SessionsMiddleware)]})
    yield demo, f"http://127.0.0.1:{port}/"
    demo.close()


def fn_index(demo, name: str) -> int:
    return next(i for i, fn in demo.fns.items() if fn.api_name == name)


def raw_join(url: str, index: int, session: str, forwarded: str | None) -> int:
    body = json.dumps({"data": ["x"], "fn_index": index, "session_hash": session,
                       "event_data": None, "trigger_id": None}).encode()
    headers = {"Content-Type": "application/json"}
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
    req = urllib.request.Request(url + "gradio_api/queue/join", body, headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.mark.parametrize("tiny_app", [1], indirect=True)
def test_seventy_spoofed_addresses_get_one_address_share_and_a_visitor_is_served(tiny_app):
    """As on a Space: one trusted proxy appends the socket address it saw (10.0.0.1 for the
    script, 10.0.0.2 for the visitor); the script writes whatever it likes left of it."""
    demo, url = tiny_app
    index = fn_index(demo, "slow")
    codes = [raw_join(url, index, f"spoof{i}", f"203.0.113.{i}, 10.0.0.1") for i in range(70)]
    accepted = codes.count(200)
    assert accepted <= 8 and codes.count(503) == 70 - accepted, codes
    visitor = Client(url, verbose=False, headers={"X-Forwarded-For": "10.0.0.2"})
    assert visitor.predict("mine", api_name="/redraw") == "mine"
    assert visitor.predict("mine", api_name="/slow") == "mine"
    assert "mine" in RAN


@pytest.mark.parametrize("tiny_app", [0], indirect=True)
def test_without_trusted_proxies_the_header_changes_nothing(tiny_app):
    demo, url = tiny_app
    index = fn_index(demo, "slow")
    codes = [raw_join(url, index, f"spoof{i}", f"203.0.113.{i}") for i in range(20)]
    assert codes.count(200) <= 8, codes


@pytest.mark.parametrize("tiny_app", [1], indirect=True)
def test_events_nobody_listens_to_do_not_run(tiny_app):
    demo, url = tiny_app
    index = fn_index(demo, "slow")
    for i in range(3):
        assert raw_join(url, index, f"deaf{i}", None) == 200
    time.sleep(4.0)                          # grace 1 s each, far less than 3 x 1.5 s of work
    assert RAN == []
    listener = Client(url, verbose=False)
    assert listener.predict("heard", api_name="/slow") == "heard" and RAN == ["heard"]


@pytest.mark.parametrize("tiny_app", [1], indirect=True)
def test_a_running_event_stops_within_a_second_of_its_caller_leaving(tiny_app):
    demo, url = tiny_app
    req = urllib.request.Request(url + "gradio_api/call/watch", json.dumps({"data": ["w"]}).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        event_id = json.loads(r.read())["event_id"]
    stream = urllib.request.urlopen(url + f"gradio_api/call/watch/{event_id}", timeout=30)
    time.sleep(1.5)                                      # running now, its caller listening
    assert RAN == []
    left = time.time()
    stream.close()
    deadline = time.time() + 5
    while not RAN and time.time() < deadline:
        time.sleep(0.05)
    assert RAN and RAN[0].startswith("stopped:"), RAN
    assert float(RAN[0].split(":")[1]) - left < 1.0


@pytest.mark.parametrize("tiny_app", [1], indirect=True)
def test_a_caller_who_comes_after_the_drop_gets_an_answer_not_an_endless_stream(tiny_app):
    demo, url = tiny_app
    req = urllib.request.Request(url + "gradio_api/call/slow", json.dumps({"data": ["late"]}).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        event_id = json.loads(r.read())["event_id"]
    time.sleep(2.5)                                        # past the 1 s grace: dropped
    with urllib.request.urlopen(url + f"gradio_api/call/slow/{event_id}", timeout=20) as r:
        text = r.read().decode()
    assert "event: error" in text and "nobody was listening" in text, text
    assert RAN == []
