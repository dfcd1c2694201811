"""The fusion lessons' measures against independent computations on the shipped models:
the head that reads the picture most is the argmax of the run's own attention and the head
that matters most the argmin of single-head ablations; the patch vectors' change is
recomputed by running the model's blocks by hand; the concatenation model's pointing is
lab/fusion_eval's on the same held-out scenes."""
import numpy as np
import pytest
import torch

import mminspect as mi
from mminspect.api import fusion_lesson as fl
from mminspect.api.lessons import get_lesson, run_lesson
from mminspect.fusion import words as W
from mminspect.lab.fusion_eval import pointing
from mminspect.miniclip.model import to_pixels
from mminspect.models import load


@pytest.fixture(scope="module")
def fusion():
    return load("fusion")


def test_attention_vs_ablation_names_the_runs_own_heads(fusion):
    lesson = get_lesson("11_the_head_that_looks")
    out = run_lesson(lesson, fusion)
    st = lesson.state
    image = mi.api.fusion.fusion_example(st.example).image
    view = mi.inspect_fusion(fusion, image, st.text)
    pos, n = view.tokens.index(W.MASK), len(view.tokens)
    share = view.attention[:, :, pos, n:].sum(-1)                         # [layer, head]
    imp = mi.fusion_head_importance(fusion, image, st.text)
    reader = np.unravel_index(share.argmax(), share.shape)
    hurts = np.unravel_index(imp.delta.argmin(), share.shape)
    assert f"reads the picture most for [MASK] is L{reader[0]}H{reader[1]}" in out.text
    assert f"hurts most is L{hurts[0]}H{hurts[1]}" in out.text
    assert out.answer == ("the same head" if reader == hurts else "a different head")
    np.testing.assert_allclose(out.evidence["series"]["[MASK]'s attention on the patches"],
                               share.ravel(), atol=1e-5)


def _last_patches(model, image, caption):
    tokens = [W.CLS, *W.tokenize(caption)]
    with torch.no_grad():
        x = model.embed(torch.tensor([W.ids_of(tokens)]), to_pixels(image[None]))
        for blk in model.blocks:
            x = blk(x)[0]
    return x[0, len(tokens):]


def test_patches_read_words_recomputed_by_hand(fusion):
    lesson = get_lesson("09_one_stream_or_cross_attention")
    out = run_lesson(lesson, fusion)
    st = lesson.state
    image = fusion.image_array(mi.api.fusion.fusion_example(st.example).image)
    a, b = (_last_patches(fusion.model, image, t) for t in (st.text, st.compare_to))
    assert out.value == pytest.approx(float((a - b).norm() / a.norm()), rel=1e-5)
    change = out.evidence["series"]["change of the patch vectors (share)"]
    assert change[0] > 0.01 and change[1] == 0.0       # the captioner's encoder never reads words
    assert out.answer == "only in the concatenation model"


def test_pointing_contrast_uses_the_cards_rule_for_the_concatenation_model(fusion):
    out = run_lesson(get_lesson("10_which_model_points"), fusion)
    card = pointing(fusion.model, fl.SCENES)["pointing_by_layer"]
    ours = out.evidence["pointing_by_layer"]["concatenation"]
    np.testing.assert_allclose(ours, card, atol=1.5 / 78)              # a tie may flip one word
    assert out.answer in fl.WHICH and out.choices == fl.WHICH
    assert len(out.evidence["pointing_by_layer"]["cross-attention"]) == load("fusion-caption").n_layers


def test_every_fusion_lesson_has_its_chinese_text():
    from mminspect.api.languages import lesson_translation
    for key in ("09_one_stream_or_cross_attention", "10_which_model_points", "11_the_head_that_looks"):
        lesson = get_lesson(key)
        zh = lesson_translation(lesson, "zh-CN")
        assert lesson.title in zh and lesson.question in zh
        assert all(c in zh for c in lesson.choices)
