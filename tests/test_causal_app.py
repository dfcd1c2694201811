"""The causal lab's endpoints through gradio_client: /head_importance gives the table (as
the client sees a Dataframe) and the summary; /patch_activations gives the map, and texts of
unequal length get the rule as a message with every other output left as it was."""
from __future__ import annotations

import json

import pytest
from gradio_client import Client

from app_outputs import unchanged

import mminspect as mi

TEXT, OTHER = "The cat sat on the mat.", "A kitten lay on the rug."


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def test_head_importance_endpoint_returns_the_scan(client):
    # model, custom, text, compare, labels, temperature, target, choice, mode, statistic
    table, summary, scatter, result, message = client.predict(
        "minilm", "", TEXT, OTHER, "", 0.05, "similarity", "", "zero", "special",
        api_name="/head_importance")
    ref = mi.head_importance("minilm", TEXT, compare_to=OTHER)
    assert message == "" and "72 heads removed one at a time" in summary
    assert table["headers"][:2] == ["layer", "H0"] and len(table["data"]) == 6
    l, h = ref.top(1)[0]
    assert table["data"][l][h + 1] == pytest.approx(float(ref.delta[l, h]), abs=1e-5)
    assert "Pearson" in json.loads(scatter["plot"])["layout"]["title"]["text"]
    assert "Click a head" in result


def test_patch_endpoint_and_the_unequal_length_rule(client):
    args = ["minilm", "", TEXT, "The dog sat on the mat.", OTHER, "", 0.05, "similarity", "",
            "heads"]
    summary, plot, message = client.predict(*args, api_name="/patch_activations")
    assert message == "" and "72 patched runs" in summary
    assert json.loads(plot["plot"])["data"][0]["type"] == "heatmap"
    args[3] = "A dog."
    out = client.predict(*args, api_name="/patch_activations")
    assert "same number of tokens" in out[-1] and all(unchanged(v) for v in out[:-1])
