"""The causal lab's figures and UI handlers without a browser: correlations equal scipy's,
a click on the table maps to (layer, head), user text is escaped, handled errors say what
to do, and the scan's click ablates what was scanned."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import gradio as gr

import mminspect as mi
from mminspect.figures import causal as cfig
from mminspect.types.causal import ActivationPatching, ClipHeadAblation
from mminspect.ui import causal_panel
from mminspect.ui.context import AppContext


def test_correlations_equal_scipy_with_ties():
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    y = np.round(x + rng.normal(size=40), 1)                     # ties in y
    r, rho = cfig.correlations(x, y)
    assert r == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)
    assert rho == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)
    assert np.isnan(cfig.correlations(np.ones(5), np.arange(5))[0])


def test_a_click_on_the_table_is_a_head_and_the_layer_names_are_not():
    assert cfig.clicked_head([2, 4], (6, 12)) == (2, 3)
    assert cfig.clicked_head([2, 0], (6, 12)) is None             # the layer-name column
    assert cfig.clicked_head([6, 1], (6, 12)) is None
    assert cfig.clicked_head(None, (6, 12)) is None


def test_importance_table_prints_and_colours_every_head():
    delta = np.array([[-0.2, 0.0], [0.1, 0.05]], np.float32)
    styler = cfig.importance_table(delta, selected=(1, 0))
    html = styler.to_html()
    assert "+0.100" in html and "-0.200" in html and "L1" in html and "outline" in html
    assert list(styler.data.columns) == ["layer", "H0", "H1"]


def test_figures_escape_user_text():
    p = ActivationPatching(restored=np.zeros((2, 3)), site="residual", clean_value=1.0,
                           corrupted_value=0.0, target="t", tokens=("[CLS]", "<b>x</b>", "[SEP]"),
                           corrupted_tokens=("[CLS]", "y", "[SEP]"), seconds=0.1)
    fig = cfig.patching_figure(p)
    assert "&lt;b&gt;x&lt;/b&gt;→y" in list(fig.data[0].x)
    a = ClipHeadAblation(logits_before=[1, 2], logits_after=[1, 1], probs_before=[0.3, 0.7],
                         probs_after=[0.5, 0.5], prompts=("<i>cat</i>", "dog"), heads=[(0, 1)],
                         mode="zero")
    fig = cfig.clip_ablation_figure(a)
    assert list(fig.data[0].x)[0] == "&lt;i&gt;cat&lt;/i&gt;" and "L0 H1" in fig.layout.title.text
    fig = cfig.importance_scatter(np.arange(4.0).reshape(2, 2), -np.arange(4.0).reshape(2, 2),
                                  "share <to>", "t")
    assert "Pearson r = +1.00" in fig.layout.title.text and "&lt;to&gt;" in fig.layout.xaxis.title.text


def test_scan_then_click_ablates_what_was_scanned_and_errors_say_what_to_do():
    ctx = AppContext(models=[{"name": "minilm", "label": "MiniLM", "family": "hf_text",
                              "modality": "text", "bundled": True}], bundled=frozenset({"minilm"}))
    text, other = "The cat sat on the mat.", "A kitten lay on the rug."
    out = causal_panel.on_scan(ctx, "minilm", "", text, other, "", 0.05, "similarity", "",
                               "zero", "special")
    imp = out["imp_state"]["imp"]
    assert imp.delta.shape == (6, 12) and "72 heads" in out["imp_summary"]
    layer, head = imp.top(1)[0]
    got = causal_panel.on_head_click(ctx, out["imp_state"], "zero",
                                     gr.SelectData(None, {"index": [layer, head + 1], "value": 0}))
    ref = mi.ablate_heads("minilm", text, heads=[(layer, head)], compare_to=other)
    assert f"L{layer} H{head}" in got["imp_result"] and f"{ref.after:.4f}" in got["imp_result"]
    assert "#1 of 72" in got["imp_result"]
    with pytest.raises(mi.InputError, match="Scan every head"):
        causal_panel.on_top_k(ctx, None, "zero", 3, "special")
    with pytest.raises(mi.InputError, match="sentence-embedding"):
        causal_panel.on_scan(ctx, "minilm", "", text, other, "", 0.05, "prediction", "", "zero",
                             "special")


def _ctx():
    return AppContext(models=[{"name": "minilm", "label": "MiniLM", "family": "hf_text",
                               "modality": "text", "bundled": True}],
                      bundled=frozenset({"minilm"}))


@pytest.mark.parametrize("head", ["gpt2", "bert-cls"])
def test_own_prediction_targets_are_measured_as_probabilities(tiny_task_dirs, head):
    folder = str(tiny_task_dirs[head])
    out = causal_panel.on_scan(_ctx(), "minilm", folder, "the cat sat on the", "", "", 0.05,
                               "prediction", "", "zero", "entropy")
    imp = out["imp_state"]["imp"]
    assert imp.delta.shape == (2, 2) and imp.target.startswith("prob ")
    assert 0 <= imp.before <= 1
    got = causal_panel.on_head_click(_ctx(), out["imp_state"], "mean",
                                     gr.SelectData(None, {"index": [1, 2], "value": 0}))
    assert "Removing head **L1 H1**" in got["imp_result"]
    with pytest.raises(mi.InputError, match="choose"):
        causal_panel.on_scan(_ctx(), "minilm", folder, "the cat", "a dog", "", 0.05,
                             "similarity", "", "zero", "entropy")


def test_a_client_that_left_stops_the_scan_and_leaves_every_output(monkeypatch):
    from mminspect.ui import events
    calls = []
    monkeypatch.setattr(events, "client_left", lambda: calls.append(1) or len(calls) > 2)
    outputs = ["imp_state", "imp_table", "imp_summary", "imp_scatter", "imp_result",
               "imp_message"]
    run = events.bind(causal_panel.on_scan, _ctx(), outputs, "imp_message")
    values = run("minilm", "", "The cat sat on the mat.", "A kitten lay on the rug.", "", 0.05,
                 "similarity", "", "zero", "special")
    assert all(v == gr.skip() for v in values) and len(calls) == 3


def test_image_patching_grid_has_one_map_per_layer_on_the_patch_grid():
    restored = np.arange(3 * 5, dtype=np.float32).reshape(3, 5) / 10           # [layer, 1 + 2 x 2]
    p = ActivationPatching(restored=restored, site="residual", clean_value=2.0,
                           corrupted_value=1.0, target="t", tokens=("[CLS]", "a", "b", "c", "d"),
                           corrupted_tokens=("[CLS]", "a", "b", "c", "d"), seconds=0.1)
    fig = cfig.patching_grid_figure(p, 2, 2)
    assert len(fig.data) == 3
    np.testing.assert_allclose(np.asarray(fig.data[1].z), [[0.6, 0.7], [0.8, 0.9]], rtol=1e-6)
    assert fig.layout.xaxis3.title.text == "after layer 2 · [CLS] 100%"


def test_head_statistics_add_the_largest_weight_per_query():
    from mminspect.api.causal_stats import head_statistics
    from mminspect.types import AttentionMaps
    w = np.zeros((1, 2, 3, 3), np.float32)
    w[0, 0] = np.eye(3)                                      # peaked: every query on one token
    w[0, 1] = 1 / 3                                          # uniform
    stats = head_statistics(AttentionMaps(weights=w, tokens=["[CLS]", "a", "[SEP]"],
                                          special=np.array([True, False, True])))
    np.testing.assert_allclose(stats["max"], [[1.0, 1 / 3]], rtol=1e-6)
    np.testing.assert_allclose(stats["special"], [[2 / 3, 2 / 3]], rtol=1e-6)
    assert set(stats) == {"entropy", "distance", "special", "self_", "previous", "first", "max"}
