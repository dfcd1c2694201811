"""Save report / Save numbers of a tab with a Compare panel carry both sides while the
comparison is on screen (its A is the tab's input A), and the tab's own result otherwise."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import mminspect as mi
from mminspect.ui import compare_attr as ca
from mminspect.ui import compare_clip as cc
from mminspect.ui import compare_view as cv
from mminspect.ui.compare_export import on_save_json_both, on_save_report_both, shows_a
from mminspect.ui.context import AppContext

A = "the <b>cat</b> sat"                   # user text with markup: the page must show it as text
B = "the cat is not <script>x</script>"


def _ctx():
    return AppContext(models=[{"name": "minilm", "label": "MiniLM", "family": "hf_text",
                               "modality": "text", "bundled": True}],
                      bundled=frozenset({"minilm"}))


def _saved(out) -> str:
    return Path(out["export_file"]["value"]).read_text(encoding="utf-8")


def test_text_report_holds_both_inputs_escaped_and_the_difference(tiny_bert_dir):
    diff = cv.on_compare(_ctx(), "minilm", str(tiny_bert_dir), A, "", B, cv.SAME)["cmp_state"]
    own = {"view": diff.b}                 # any other result the tab shows
    page = _saved(on_save_report_both(_ctx(), diff, A, None, own))
    assert "How much every head changed" in page and "The head that changed most" in page
    assert "&lt;b&gt;cat&lt;/b&gt;" in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x</script>" not in page and "<b>cat</b>" not in page
    # text A changed since the comparison: the tab's own result, one side only
    page = _saved(on_save_report_both(_ctx(), diff, "another text", None, own))
    assert "How much every head changed" not in page
    saved = mi.load_result(on_save_json_both(_ctx(), diff, A, None, own)["export_file"]["value"])
    assert saved.kind == "text" and saved.a.text == A and saved.b.text == B


def test_attribution_report_holds_both_maps(tiny_bert_dir):
    out = ca.on_compare_attr(_ctx(), "minilm", str(tiny_bert_dir), "the cat sat", "similarity",
                             "a warm rug", "", "", "", "saliency", "pad", B, cv.SAME)
    diff = out["acmp_state"]
    page = _saved(on_save_report_both(_ctx(), diff, "the cat sat", None, diff.a, None))
    assert "Attribution per aligned word" in page and "the cat sat" in page
    assert "&lt;script&gt;" in page and "<script>x" not in page


def test_image_report_only_while_image_a_is_the_one_compared():
    pair = cc.on_removed_pair(_ctx(), 0, 1)
    out = cc.on_compare_images(_ctx(), "miniclip2", "", pair["image"], "a red star\na maple leaf",
                               "", pair["icmp_image_b"], cv.SAME)
    diff, used = out["icmp_state"], out["icmp_a"]
    assert shows_a(diff, pair["image"].copy(), used)
    assert not shows_a(diff, pair["icmp_image_b"], used)       # image A replaced since
    assert not shows_a(None, pair["image"], used)
    page = _saved(on_save_report_both(_ctx(), diff, pair["image"], used, {"view": diff.a}))
    assert "Relevance per patch" in page and "A: input" in page and "B: input" in page
    assert np.array_equal(used, pair["image"])
