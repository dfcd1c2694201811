"""SigLIP's prediction chain end to end on the tiny random build: cosine -> x scale + bias ->
sigmoid per prompt (ClipView validated per link), drawn by the figure, written by the report,
and kept by save_result / load_result. The numbers are checked against transformers' own
SiglipModel forward (a computation this code did not do)."""
import dataclasses
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from clip_tiny import tiny_clip_of  # noqa: E402
from PIL import Image  # noqa: E402

import mminspect as mi  # noqa: E402
from mminspect.figures import clip as cfig  # noqa: E402
from mminspect.report import report_html  # noqa: E402
from mminspect.types import ClipView  # noqa: E402
from mminspect.types.serialize import results_equal  # noqa: E402

PROMPTS = ["a photo of a cat", "a blue square", "the red circle", "a dog"]


@pytest.fixture(scope="module")
def siglip(tmp_path_factory):
    return tiny_clip_of("hf_siglip", tmp_path_factory)


@pytest.fixture(scope="module")
def image():
    return Image.fromarray(np.random.default_rng(2).integers(0, 256, (40, 40, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def view(siglip, image):
    return mi.inspect_clip(siglip, image, PROMPTS, maps=True)


def test_the_view_is_the_models_own_sigmoid(siglip, image, view):
    ids = siglip.tokenizer(PROMPTS, padding="max_length", max_length=siglip.max_tokens,
                           return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = siglip.model(input_ids=ids, pixel_values=siglip.preprocess([image]))
    np.testing.assert_allclose(view.logits, out.logits_per_image.numpy(), atol=1e-5)
    np.testing.assert_allclose(view.probs, torch.sigmoid(out.logits_per_image).numpy(), atol=1e-6)
    assert view.link == "sigmoid" and view.logit_bias == pytest.approx(-3.0)
    assert abs(view.probs.sum() - 1) > 1e-3                  # independent, not a distribution


def test_a_prompts_probability_does_not_depend_on_the_others(siglip, image, view):
    alone = mi.inspect_clip(siglip, image, PROMPTS[:1])
    assert alone.probs[0, 0] == pytest.approx(float(view.probs[0, 0]), abs=1e-6)
    assert alone.probs[0, 0] != pytest.approx(1.0)           # a softmax of one prompt would be 1


@pytest.mark.parametrize("change, match", [
    ({"probs": None}, "sigmoid\\(logits\\)"),                # softmax probabilities, sigmoid link
    ({"link": "softmax"}, "bias"),                           # a bias with a softmax link
    ({"link": "tanh"}, "link must be one of"),
    ({"logit_bias": 1.0}, "logit_scale \\* cosine \\+ logit_bias"),
])
def test_the_view_refuses_a_chain_that_does_not_add_up(view, change, match):
    if change.get("probs", 0) is None:
        e = np.exp(view.logits - view.logits.max(1, keepdims=True))
        change = {"probs": e / e.sum(1, keepdims=True)}
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(view, **change)


def test_the_figure_draws_scale_bias_sigmoid_and_says_independent(view):
    fig = cfig.prediction_steps_figure(view)
    titles = [a.text for a in fig.layout.annotations]
    assert titles[:3] == ["1. cosine(image, prompt)",
                          f"2. × scale {view.logit_scale:.1f} + bias {view.logit_bias:+.1f} = logit",
                          "3. sigmoid of each logit = probability"]
    note = titles[3]
    assert "independent" in note and "need not sum to 1" in note
    assert f"sum to {view.probs[0].sum():.2f}" in note
    np.testing.assert_allclose(fig.data[2].x, view.probs[0], atol=1e-6)
    np.testing.assert_allclose(fig.data[1].x, view.logits[0], atol=1e-6)


def test_a_clip_view_still_draws_the_softmax_chain(view):
    clip_like = dataclasses.replace(view, link="softmax", logit_bias=0.0,
                                    logits=view.logit_scale * view.cosine,
                                    probs=np.full_like(view.probs, 1 / len(PROMPTS)))
    titles = [a.text for a in cfig.prediction_steps_figure(clip_like).layout.annotations]
    assert titles == ["1. cosine(image, prompt)", f"2. × logit scale {view.logit_scale:.1f} = logit",
                      "3. softmax over prompts = probability"]


def test_save_and_load_keep_the_link_and_bias(view, tmp_path):
    path = mi.save_result(view, tmp_path / "siglip.json")
    back = mi.load_result(path)
    assert isinstance(back, ClipView) and back.link == "sigmoid"
    assert back.logit_bias == view.logit_bias and results_equal(back, view)


def test_an_old_file_without_link_loads_as_softmax(tmp_path, siglip, image):
    """Files saved before SigLIP have no link / logit_bias: they were CLIP (softmax) views."""
    import json
    view = mi.inspect_clip(siglip, image, PROMPTS[:2])
    e = np.exp(view.logits - view.logits.max(1, keepdims=True))
    softmax_view = dataclasses.replace(view, link="softmax", logit_bias=0.0,
                                       logits=view.logit_scale * view.cosine,
                                       probs=(e / e.sum(1, keepdims=True)))
    path = mi.save_result(softmax_view, tmp_path / "old.json")
    data = json.loads(path.read_text())
    fields = data["result"]["fields"] if "result" in data else data["fields"]
    del fields["link"], fields["logit_bias"]
    path.write_text(json.dumps(data))
    back = mi.load_result(path)
    assert back.link == "softmax" and back.logit_bias == 0.0


def test_the_report_writes_the_sigmoid_chain(view):
    page = report_html(view)
    assert "sigmoid, each prompt on its own" in page and "+ bias -3.0" in page
