"""The Attributions tab: figures escape user text, handlers work without a server, and the
app's endpoints answer through gradio_client."""
from __future__ import annotations

import json
import os
import re

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import mminspect as mi  # noqa: E402
from app_outputs import unchanged  # noqa: E402
from mminspect.figures import attribution as fig  # noqa: E402
from mminspect.ui import attribution_tab  # noqa: E402
from mminspect.ui.context import default_context  # noqa: E402

TEXT, OTHER = "The cat sat on the mat.", "A kitten rested on a rug."


@pytest.fixture(scope="module")
def attr(minilm):
    return mi.attribute_text(minilm, TEXT, compare_to=OTHER)


def test_highlights_escape_every_token_and_keep_the_text(minilm):
    nasty = 'Click <script>alert("x")</script> & "quote" now'
    a = mi.attribute_text(minilm, nasty, method="saliency", compare_to="a link",
                          both_sides=False, faithfulness=False)
    for level in ("word", "token"):
        html = fig.highlight_html(a, level)
        assert "<script" not in html and "&lt;" in html and 'alert("x")' not in html
    # Word view keeps the text: stripping the tags and unescaping gives it back.
    import html as h
    body = fig.highlight_html(a, "word", show_legend=False)
    assert h.unescape(re.sub(r"<[^>]+>", "", body)) == nasty


def test_colours_follow_the_sign_and_the_legend_gives_the_scale(attr):
    html = fig.highlight_html(attr, "word")
    top = int(np.argmax(attr.word_scores))
    scale = fig.color_scale(attr.word_scores, np.zeros(len(attr.words), bool))
    assert scale == pytest.approx(np.abs(attr.word_scores).max())
    # The top word is drawn in full red.
    assert re.search(rf'rgba\(178,24,43,1\.000\);color:#fff;[^>]*>{re.escape(attr.words[top])}<', html)
    assert f"+{scale:.3g} raises the target" in html and f"−{scale:.3g} lowers" in html


def test_bar_and_curves_figures_hold_the_numbers(attr):
    bar = fig.top_tokens_bar(attr, "word", k=3)
    xs = list(bar.data[0].x)
    biggest = attr.word_scores[np.argmax(np.abs(attr.word_scores))]
    assert len(xs) == 3 and xs[-1] == pytest.approx(float(biggest))  # largest |score| on top
    curves = fig.faithfulness_figure(attr.faithfulness)
    assert len(curves.data) == 4
    np.testing.assert_allclose(curves.data[1].y, attr.faithfulness.deletion)
    assert f"{attr.faithfulness.deletion_area:+.3f}" in curves.layout.title.text


def test_handlers_run_without_a_server_and_redraw_without_the_model():
    values = [p["default"] for _, p in attribution_tab.param_controls()]
    ctx = default_context()
    out = attribution_tab.on_attribute(
        ctx, "minilm", "", TEXT, "similarity", OTHER, "", "", "", "integrated_gradients", "pad",
        "word", *values)
    state, summary, details = out["state"], out["summary"], out["details"]
    # short plain summary; the internals (steps, completeness in score units, notes) in details
    assert state.n_steps >= 16 and "steps along the path" in details
    assert "Completeness error" in details and "add up to the change" in summary
    assert "Integrated Gradients" in summary and "PAD\\] tokens" in summary
    assert "integrated_gradients" not in summary and "minilm" not in summary   # words, not ids
    for internal in ("bfloat16", "Gauss", "MMINSPECT_", "steps along"):
        assert internal not in summary, internal
    assert all(n.replace("*", "")[:30] in details.replace("\\", "") for n in state.notes)
    assert "kitten" in out["other_map"] and "mat" in out["text_map"]
    assert "[CLS]" in attribution_tab.redraw(ctx, state, "token")["text_map"]
    out = attribution_tab.on_compare_methods(
        ctx, "minilm", "", TEXT, "zero_shot", "", "animals, finance", "finance", "", "mask", "word",
        state)
    comp, table = out["comparison"], out["table"]
    assert comp.methods == list(mi.explain.attribution.METHODS)
    assert table.count("<tr>") == len(comp.methods) + 1
    assert all(r.baseline == "mask" and "finance" in r.target for r in comp.results)
    # the single-method summary was about the similarity with [PAD]: marked as the previous run
    assert out["summary"].startswith("*From the previous run")
    same = attribution_tab.previous_run_note(comp.results[0], comp)
    assert same == {} and attribution_tab.previous_run_note(None, comp) == {}


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client
    return Client(app_url, verbose=False)


def attribute(client, *args, model="minilm", custom="", choice=""):
    """Call /attribute_text with the method's default slider values.
    args: text, target, compare, labels, label, method, baseline, level."""
    text, target, compare, labels, label, method, baseline, level = args
    values = [p["default"] for _, p in attribution_tab.param_controls()]
    out = client.predict(model, custom, text, target, compare, labels, label, choice, method,
                         baseline, level, *values, api_name="/attribute_text")
    return dict(zip(["summary", "text_map", "other_map", "bar", "curves", "message"], out))



def test_attribute_text_endpoint_returns_the_map_and_numbers(client, minilm):
    out = attribute(client, TEXT, "similarity", OTHER, "", "", "feature_ablation", "pad", "word")
    summary, text_map, other_map, bar, curves = (out[k] for k in ("summary", "text_map",
                                                                   "other_map", "bar", "curves"))
    ref = mi.attribute_text(minilm, TEXT, method="feature_ablation", compare_to=OTHER)
    assert f"f(text) = **{ref.target_value:.4f}**" in summary
    assert f"deletion area **{ref.faithfulness.deletion_area:+.3f}**" in summary
    top = ref.words[int(np.argmax(ref.word_scores))]
    bar_fig = json.loads(bar["plot"])
    assert bar_fig["data"][0]["y"][-1].startswith(top)          # largest effect at the top
    assert "kitten" in other_map and "<script" not in text_map
    assert json.loads(curves["plot"])["data"]


def test_endpoint_reports_bad_input_as_a_message_and_keeps_the_page(client):
    for args, says in (((TEXT, "similarity", "  ", "", ""), "Type a second text"),
                       ((TEXT, "zero_shot", "", "animals", ""), "at least two labels"),
                       ((TEXT, "prediction", "", "", ""), "no prediction head")):
        out = attribute(client, *args, "saliency", "pad", "word")
        assert says in out["message"]
        assert all(unchanged(v) for k, v in out.items() if k != "message"), out


def test_user_text_in_the_summary_is_escaped(client):
    evil = '<img src=x onerror="alert(1)"> <a href="http://x">link</a>'
    out = attribute(client, TEXT, "zero_shot", "", f"{evil}, finance", "", "saliency", "pad",
                    "word")
    assert out["message"] == "" and "<img" not in out["summary"] and "<a " not in out["summary"]


def test_a_local_masked_lm_explains_its_own_filler(client, tiny_task_dirs):
    folder = str(tiny_task_dirs["bert-mlm"])
    out = attribute(client, "the cat [MASK]", "similarity", OTHER, "", "", "saliency", "pad",
                    "word", custom=folder)
    assert "choose “The model's own prediction" in out["message"]
    out = attribute(client, "the cat [MASK] on the mat", "prediction", "", "", "", "saliency",
                    "pad", "token", custom=folder, choice="sat")
    summary, text_map = out["summary"], out["text_map"]
    # Markdown-escaped (the target names user text): renders as "[MASK] #1"
    assert "prob of “sat” at \\[MASK\\] \\#1 (position 3)" in summary
    assert "mat" in text_map

