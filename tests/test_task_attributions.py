"""Attribution targets of models with a head (class, [MASK] filler, next token): the value
explained equals a direct call, and Integrated Gradients adds up to it."""
import numpy as np
import pytest
import torch

import mminspect as mi
from conftest import direct_logits
from mminspect.api.attribution import attribute_generation, attribute_text


@pytest.fixture(scope="module")
def models(task_models):
    return task_models


def assert_complete(attr, tol=0.01):
    """IG's scores add up to f(input) - f(baseline): within 1 % of the gap, or within float32
    noise (1e-5) where a random tiny model leaves almost no gap to explain."""
    gap = attr.target_value - attr.baseline_value
    assert abs(attr.scores.sum() - gap) <= max(tol * abs(gap), 1e-5), (attr.scores.sum(), gap)
    if abs(gap) > 1e-3:
        assert attr.faithfulness.completeness_relative <= tol


def test_class_target_defaults_to_the_predicted_class_and_adds_up(models):
    m = models["bert-cls"]
    logits = direct_logits(m, "the cat sat on the warm mat")
    attr = attribute_text(m, "the cat sat on the warm mat")
    best = ["negative", "neutral", "positive"][int(logits.argmax())]
    assert attr.target == f"logit of class “{best}”"
    assert attr.target_value == pytest.approx(float(logits.max()), abs=1e-5)
    assert_complete(attr)


def test_class_probability_of_a_named_class(models):
    m = models["bert-cls"]
    attr = attribute_text(m, "the dog is warm", target="class", label="negative", output="prob")
    p = torch.softmax(direct_logits(m, "the dog is warm"), -1)[0].item()
    assert attr.target_value == pytest.approx(p, abs=1e-6)
    assert_complete(attr)


@pytest.mark.parametrize("head", ["bert-mlm", "distilbert-mlm"])
def test_mask_fill_probability_equals_the_softmax_at_the_mask(models, head):
    m = models[head]
    text = "the cat [MASK] on the mat"
    attr = attribute_text(m, text, target="mask_fill", token="sat")
    p = torch.softmax(direct_logits(m, text)[3], -1)[m.tokenizer.convert_tokens_to_ids("sat")]
    assert attr.target_value == pytest.approx(p.item(), abs=1e-6)
    assert "“sat” at [MASK] #1 (position 3)" in attr.target
    assert_complete(attr)


def test_next_token_log_probability_of_the_top_token_by_default(models):
    m = models["gpt2"]
    text = "the cat sat on the"
    logp = torch.log_softmax(direct_logits(m, text)[-1], -1)
    attr = attribute_text(m, text)
    assert attr.target_value == pytest.approx(float(logp.max()), abs=1e-5)
    assert attr.target.startswith("log prob of the next token")
    assert_complete(attr)


def test_each_generated_token_is_explained_in_turn(models):
    m = models["gpt2"]
    text = "the dog is"
    attrs = attribute_generation(m, text, n_tokens=3)
    assert len(attrs) == 3
    ids = m.tokenizer(text, return_tensors="pt")["input_ids"]
    for attr in attrs:                       # greedy by hand: each target is the argmax token
        with torch.no_grad():
            logp = torch.log_softmax(m.model(ids).logits[0, -1], -1)
        assert attr.target_value == pytest.approx(float(logp.max()), abs=1e-5)
        assert len(attr.tokens) == ids.shape[1]
        ids = torch.cat([ids, logp.argmax().view(1, 1)], 1)


def test_task_targets_refuse_what_does_not_fit(models, minilm):
    with pytest.raises(mi.InputError, match="not a class"):
        attribute_text(models["bert-cls"], "the cat", target="class", label="happy")
    with pytest.raises(mi.InputError, match=r"Put \[MASK\] in the text"):
        attribute_text(models["bert-mlm"], "the cat sat")
    with pytest.raises(mi.InputError, match="not one token"):
        attribute_text(models["bert-mlm"], "the [MASK] sat", token="hello world")
    with pytest.raises(mi.InputError, match="needs one of: causal_lm"):
        attribute_text(minilm, "a text", target="next_token")
    with pytest.raises(mi.InputError, match="causal language model"):
        attribute_generation(models["bert-mlm"], "the [MASK]")


def test_method_comparison_runs_on_a_decoder_target(models):
    comp = mi.compare_attributions(models["gpt2"], "the cat sat", methods=["saliency", "feature_ablation"])
    assert [r.method for r in comp.results] == ["saliency", "feature_ablation"]
    assert all(r.target.startswith("log prob of the next token") for r in comp.results)
    assert np.isfinite(comp.results[1].scores).all()
