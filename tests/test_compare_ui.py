"""The Compare panel's handlers, called directly (the browser walk is test_browser_compare)."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pytest

import mminspect as mi
from mminspect.ui import compare_view as cv
from mminspect.ui.context import AppContext
from mminspect.ui.events import bind


def _ctx():
    return AppContext(models=[{"name": "minilm", "label": "MiniLM", "family": "hf_text",
                               "modality": "text", "bundled": True}],
                      bundled=frozenset({"minilm"}))


def test_compare_handler_opens_the_most_changed_head(tiny_bert_dir):
    out = cv.on_compare(_ctx(), "minilm", str(tiny_bert_dir), "the cat sat", "",
                        "the cat is not on the mat", cv.SAME)
    diff = out["cmp_state"]
    layer, head, js = diff.top_heads[0]
    assert js == pytest.approx(diff.head_js.max())
    assert out["cmp_heads"]["value"] == f"{layer},{head}"
    assert out["cmp_layer"]["value"] == layer and out["cmp_head"]["maximum"] == 1
    fig = out["cmp_figure"]
    assert [t.type for t in fig.data] == ["heatmap"] * 3
    np.testing.assert_allclose(fig.data[0].z - fig.data[1].z, fig.data[2].z, atol=1e-7)
    assert "edits: " in out["cmp_summary"]
    opened = cv.on_open_head(_ctx(), diff, "0,1")
    assert (opened["cmp_layer"], opened["cmp_head"]) == (0, 1)
    assert "head 1" in opened["cmp_figure"].layout.annotations[0].text


def test_random_model_b_changes_the_top_layers_only_of_a_copy(tiny_bert_dir):
    out = cv.on_compare(_ctx(), "minilm", str(tiny_bert_dir), "the cat sat", "", "the cat sat",
                        cv.RANDOM)
    diff = out["cmp_state"]
    assert diff.alignment.n_edits == 0 and diff.head_js.min() > 0       # both layers random
    assert "random" in diff.model_names[1] and "random" not in diff.model_names[0]


def test_handled_errors_leave_the_panel_as_it_was(tiny_bert_dir):
    outputs = ["cmp_state", "cmp_summary", cv.MESSAGE]
    run = bind(cv.on_compare, _ctx(), outputs, message=cv.MESSAGE)
    got = run("minilm", str(tiny_bert_dir), "the cat", "", "   ", cv.SAME)
    assert isinstance(got[0], type(gr.skip())) and "Type a text B" in got[2]
    with pytest.raises(mi.InputError, match="Press Compare first"):
        cv.on_slide(_ctx(), None, 0, 0)


def test_picking_a_minimal_pair_fills_both_texts_and_the_labels():
    out = cv.on_pair(_ctx(), "negation")
    assert out["text"] == "The movie was good." and out["cmp_text_b"] == "The movie was not good."
    assert out["labels"] == "a positive review, a negative review"
    assert cv.on_pair(_ctx(), cv.OWN) == {"cmp_teaches": ""}


def test_attribution_compare_lines_up_the_words_of_both_maps(tiny_bert_dir):
    from mminspect.ui import compare_attr as ca
    out = ca.on_compare_attr(_ctx(), "minilm", str(tiny_bert_dir), "the cat sat", "similarity",
                             "a warm rug", "", "", "", "saliency", "pad", "the cat is not warm",
                             cv.SAME)
    fig = out["acmp_figure"]
    assert [t.name for t in fig.data][2] == "A − B" and "edits: 3" in out["acmp_summary"]
    a, b, d = (np.array([np.nan if v is None else v for v in t.y], float) for t in fig.data)
    np.testing.assert_allclose(a - b, d, atol=1e-6, equal_nan=True)
    assert np.isnan(d).sum() == 2                     # "+not", "+warm": only B has them
    with pytest.raises(mi.InputError, match="Type a text B"):
        ca.on_compare_attr(_ctx(), "minilm", str(tiny_bert_dir), "the cat", "similarity",
                           "a rug", "", "", "", "saliency", "pad", "", cv.SAME)


def test_image_compare_handlers_scene_without_one_object():
    from mminspect.ui import compare_clip as cc
    pair = cc.on_removed_pair(_ctx(), 0, 1)
    assert "red star" in pair["icmp_note"] and pair["image"].shape == (64, 64, 3)
    prompts = "a red star\na maple leaf\nan orange circle"
    with pytest.raises(mi.InputError, match="Give B something to differ in"):
        cc.on_compare_images(_ctx(), "miniclip2", "", pair["image"], prompts, "", None, cv.SAME)
    out = cc.on_compare_images(_ctx(), "miniclip2", "", pair["image"], prompts, "",
                               pair["icmp_image_b"], cv.SAME)
    diff = out["icmp_state"]
    assert diff.kind == "image" and out["icmp_prompt"]["choices"] == diff.a.prompts
    maps = out["icmp_maps"]
    np.testing.assert_allclose(maps.data[0].z - maps.data[1].z, maps.data[2].z, atol=1e-6)
    star = cc.on_prompt(_ctx(), diff, "a maple leaf")["icmp_maps"]
    np.testing.assert_allclose(star.data[0].z, diff.patch_a[1])
