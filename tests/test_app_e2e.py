"""The app end to end through gradio_client: the text endpoint on the bundled MiniLM."""
import json

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

import mminspect as mi

MAX_UPDATE_BYTES = 2_000_000


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def inspect(client, text, compare="", labels="", hide=False, model="minilm", custom=""):
    return client.predict(model, custom, text, compare, labels, 0.05, hide, 0, 0,
                          api_name="/inspect_text")


def test_text_endpoint_returns_the_prediction_and_every_panel(client):
    out = inspect(client, "The cat sat on the mat.", "A dog lay on the rug.", "animals\nfinance")
    label, summary, notes, _layer, _head, stats, lens, *plots = out
    assert label["label"] == "animals"
    ref = mi.inspect_text("minilm", "The cat sat on the mat.", compare_to="A dog lay on the rug.")
    assert f"**{ref.prediction.similarity:.3f}**" in summary
    assert "9 tokens" in summary and notes == ""
    assert lens is None                                         # no output head on MiniLM
    figs = [json.loads(p["plot"]) for p in [stats, *plots]]
    assert len(figs) == 6 and all(f["data"] for f in figs)
    grid = figs[1]
    assert sum(t["type"] == "heatmap" for t in grid["data"]) == 6 * 12


def test_bad_input_gets_a_message_and_the_app_keeps_serving(client):
    with pytest.raises(AppError, match="The text is empty"):
        inspect(client, "   ")
    label, summary, *_ = inspect(client, "Still serving.")
    assert "tokens" in summary


def test_long_input_is_truncated_on_screen_and_updates_stay_under_2_mb(client):
    text = " ".join(f"word{i}" for i in range(600))
    out = inspect(client, text, "a short second text", "numbers, animals")
    assert "tokens at the end were dropped" in out[2]
    assert "512 tokens" in out[1]
    assert len(json.dumps(out)) < MAX_UPDATE_BYTES
    redrawn = client.predict(5, 11, True, api_name="/redraw_text")   # same session: state kept
    assert len(json.dumps(redrawn)) < MAX_UPDATE_BYTES
    head = json.loads(redrawn[1]["plot"])
    assert "Layer 5, head 11" in head["layout"]["title"]["text"]


def test_bertviz_is_embedded_in_a_sandboxed_escaped_iframe(client):
    inspect(client, "Short text for bertviz.")
    html = client.predict("head view", api_name="/bertviz")
    assert html.startswith('<iframe sandbox="allow-scripts" ')
    assert "allow-same-origin" not in html
    assert "<script" not in html and "&lt;script" in html      # escaped into srcdoc
    assert len(html) < MAX_UPDATE_BYTES


def test_a_local_gpt2_folder_opens_with_its_own_prediction_and_layer_view(client, tiny_task_dirs):
    out = inspect(client, "the cat sat on", custom=str(tiny_task_dirs["gpt2"]))
    label, summary, notes, _layer, _head, stats, lens, *plots = out
    assert "causal lm" in summary and "Greedy continuation" in summary
    assert len(label["confidences"]) == 5
    lens_fig = json.loads(lens["plot"])
    assert lens_fig["data"][0]["type"] == "heatmap" and len(lens_fig["data"][0]["y"]) == 3


def test_a_model_that_cannot_be_loaded_gets_a_message_and_the_app_keeps_serving(client):
    with pytest.raises(AppError, match="not in the local cache.*minilm"):
        inspect(client, "hello", custom="someone/not-cached-model")
    assert "tokens" in inspect(client, "Still serving.")[1]
