"""The app end to end through gradio_client: the text endpoint on the bundled MiniLM."""
import json

import pytest
from gradio_client import Client

from app_outputs import unchanged

import mminspect as mi
from mminspect.api.lens import why_no_lens

MAX_UPDATE_BYTES = 2_000_000


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


# /inspect_text's outputs as the client sees them (gr.State is not sent)
OUT = ["label", "summary", "notes", "layer", "head", "message", "grid", "onehead", "lines",
       "stats", "rollout", "norms", "lens"]


def inspect(client, text, compare="", labels="", hide=False, model="minilm", custom=""):
    out = client.predict(model, custom, text, compare, labels, 0.05, hide, 0, 0,
                         api_name="/inspect_text")
    return dict(zip(OUT, out))


def test_text_endpoint_returns_the_prediction_and_every_panel(client):
    out = inspect(client, "The cat sat on the mat.", "A dog lay on the rug.", "animals\nfinance")
    assert out["label"]["label"] == "animals"
    ref = mi.inspect_text("minilm", "The cat sat on the mat.", compare_to="A dog lay on the rug.")
    assert f"**{ref.prediction.similarity:.3f}**" in out["summary"]
    assert "9 tokens" in out["summary"] and out["notes"] == "" and out["message"] == ""
    lens = json.loads(out["lens"]["plot"])                     # no output head on MiniLM: said so
    note = lens["layout"]["annotations"][0]["text"].replace("<br>", " ")
    assert not lens["data"] and note == why_no_lens(ref.model_name, ref.prediction.kind)
    assert "sentence encoder" in note and "without the masked-language-model head" in note
    figs = {k: json.loads(out[k]["plot"]) for k in ("grid", "onehead", "lines", "stats",
                                                     "rollout", "norms")}
    assert all(f["data"] for f in figs.values())
    # the model view: every layer x head tiled into one heatmap, 9 tokens + a gutter each
    (grid,) = figs["grid"]["data"]
    assert grid["type"] == "heatmap" and grid["z"]["shape"] == f"{6 * 10 - 1}, {12 * 10 - 1}"


def test_bad_input_gets_a_message_and_leaves_every_other_output_as_it_was(client):
    out = inspect(client, "   ")
    assert "The text is empty" in out["message"]
    assert all(unchanged(v) for k, v in out.items() if k != "message")   # nothing wiped
    assert "tokens" in inspect(client, "Still serving.")["summary"]


def test_long_input_is_truncated_on_screen_and_updates_stay_under_2_mb(client):
    text = " ".join(f"word{i}" for i in range(600))
    out = inspect(client, text, "a short second text", "numbers, animals")
    assert "tokens at the end were dropped" in out["notes"]
    assert "512 tokens" in out["summary"] and "&#x27;" not in out["notes"]
    assert len(json.dumps(out)) < MAX_UPDATE_BYTES
    redrawn = client.predict(5, 11, True, api_name="/redraw_text")   # same session: state kept
    assert len(json.dumps(redrawn)) < MAX_UPDATE_BYTES
    head = json.loads(redrawn[1]["plot"])
    assert "Layer 5, head 11" in head["layout"]["title"]["text"]
    assert "rows renormalised" in head["layout"]["title"]["text"]


def test_bertviz_is_embedded_in_a_sandboxed_escaped_iframe(client):
    inspect(client, "Short text for bertviz.")
    html, message = client.predict("head view", api_name="/bertviz")
    assert message == ""
    assert html.startswith('<iframe sandbox="allow-scripts" ')
    assert "allow-same-origin" not in html
    assert "<script" not in html and "&lt;script" in html      # escaped into srcdoc
    assert len(html) < MAX_UPDATE_BYTES


def test_a_local_gpt2_folder_opens_with_its_own_prediction_and_layer_view(client, tiny_task_dirs):
    out = inspect(client, "the cat sat on", custom=str(tiny_task_dirs["gpt2"]))
    assert "next-token model" in out["summary"] and "Greedy continuation" in out["summary"]
    assert len(out["label"]["confidences"]) == 5
    lens_fig = json.loads(out["lens"]["plot"])
    assert lens_fig["data"][0]["type"] == "heatmap" and len(lens_fig["data"][0]["y"]) == 3


def test_a_model_that_cannot_be_loaded_gets_a_message_and_the_app_keeps_serving(client):
    out = inspect(client, "hello", custom="someone/not-cached-model")
    assert "not in the local cache" in out["message"] and "minilm" in out["message"]
    assert unchanged(out["summary"])
    out = inspect(client, "hello", model="gpt2")                 # listed, but not offline
    assert "not available offline" in out["message"] and unchanged(out["grid"])
    assert "tokens" in inspect(client, "Still serving.")["summary"]
