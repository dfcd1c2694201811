"""Every input is checked before any work, in the app's words: out of range (also after an
event changed a slider's range), not a number, NaN, None for a required choice, a choice
not offered. gradio's own wording never reaches the caller."""
from __future__ import annotations

import json
import math

import gradio as gr
import pytest
from gradio_client import Client

from mminspect.ui.guards import guard_inputs

from conftest import free_port

RUNS: list[tuple] = []


def widen(n):
    return gr.update(maximum=11, value=11)


def work(layer, level, words):
    RUNS.append((layer, level, words))
    return f"{layer}|{level}|{words}"


@pytest.fixture(scope="module")
def guarded():
    with gr.Blocks() as demo:
        layer = gr.Slider(0, 5, value=0, step=1, label="Layer")
        level = gr.Radio(["low", "high"], value="low", label="Level")
        words = gr.Textbox(label="Words")
        out = gr.Textbox()
        gr.Button().click(widen, layer, layer, api_name="widen")
        gr.Button().click(work, [layer, level, words], out, api_name="work")
    demo.queue()
    guard_inputs(demo)
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def message(client, *args) -> str:
    """The error a raw API call gets (NaN written as JSON's NaN, as a script could)."""
    import httpx
    data = json.dumps(list(args), allow_nan=True)
    body = '{"data": %s, "session_hash": "%s"}' % (data, client.session_hash)
    r = httpx.post(client.src + "gradio_api/call/work", content=body,
                   headers={"Content-Type": "application/json"}, timeout=10)
    event = r.json()["event_id"]
    text = httpx.get(client.src + f"gradio_api/call/work/{event}", timeout=30).text
    assert "event: error" in text, text
    line = next(x for x in text.splitlines() if x.startswith("data: "))
    return json.loads(line[len("data: "):])["error"]


GRADIO_WORDS = ("greater than maximum", "less than minimum", "not in the list of choices",
                "upstream Gradio app", "Something went wrong")


@pytest.mark.parametrize("args, named", [
    ((99, "low", "x"), "Layer"),                      # out of range
    ((math.nan, "low", "x"), "Layer"),                # NaN passes a range check
    (("abc", "low", "x"), "Layer"),                   # not a number
    ((True, "low", "x"), "Layer"),
    ((1, None, "x"), "Level"),                        # a required choice left empty
    ((1, "medium", "x"), "Level"),                    # a choice not offered
    ((1, "low", 5), "Words"),                         # a number where text goes
])
def test_bad_values_get_the_apps_message_and_nothing_runs(guarded, args, named):
    RUNS.clear()
    text = message(Client(guarded, verbose=False), *args)
    assert f"\u201c{named}\u201d" in text and "Nothing was run" in text, text
    assert not any(w in text for w in GRADIO_WORDS), text
    assert RUNS == []


def test_after_a_slider_was_widened_its_new_range_is_the_one_checked(guarded):
    client = Client(guarded, verbose=False)
    client.predict(0, api_name="/widen")                    # this session's Layer: 0 to 11
    assert client.predict(9, "high", "ok", api_name="/work").startswith("9")
    for bad in ("abc", 12, math.nan):
        text = message(client, bad, "high", "ok")
        assert "\u201cLayer\u201d" in text and "0 to 11" in text, text
    other = Client(guarded, verbose=False)                   # another session: still 0 to 5
    assert "0 to 5" in message(other, 9, "high", "ok")


def test_too_few_inputs_are_named(guarded):
    import httpx
    r = httpx.post(guarded + "gradio_api/call/work", json={"data": [1]}, timeout=10)
    event = r.json()["event_id"]
    text = httpx.get(guarded + f"gradio_api/call/work/{event}", timeout=30).text
    assert "sent 1 of the 3 inputs" in text and "Layer, Level, Words" in text


def test_a_choice_the_app_itself_empties_takes_none_and_others_still_refuse_it():
    import gradio as gr

    from mminspect.ui.guards import may_be_empty, value_ok
    with gr.Blocks():
        plain = gr.Dropdown(["a", "b"], value="a", label="Plain")
        emptied = may_be_empty(gr.Dropdown(["a", "b"], value="a", label="Example"))
    assert not value_ok(plain, plain, None)
    assert value_ok(emptied, emptied, None)
    assert not value_ok(emptied, emptied, "not a choice")      # only None is added
