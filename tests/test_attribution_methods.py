"""Attribution methods: exact values on a hand-made linear model, IG completeness on a tiny
random BERT and on the bundled MiniLM, parameters declared as data."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import mminspect as mi
from mminspect.explain.attribution import METHODS, Problem
from mminspect.types import InputError, TokenAttribution

T, D = 6, 5
WORDS = ["the", "cat", "sat", "on", "mat", "dog", "a", "rug", "is", "warm", "##s", "##ing", "run",
         ".", ",", "!", "?", "hello", "world"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A random 2-layer BERT with a real WordPiece vocabulary, saved and loaded by path.

    Built here rather than in conftest: in transformers 5 `BertTokenizerFast(vocab_file=...)`
    ignores the file (every word becomes [UNK]); `vocab={...}` works."""
    from transformers import BertConfig, BertModel, BertTokenizerFast
    folder = tmp_path_factory.mktemp("tiny_bert_words")
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS])}
    tok = BertTokenizerFast(vocab=vocab, do_lower_case=True, model_max_length=64)
    assert "[UNK]" not in tok.tokenize("the cats sat")
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    BertModel(cfg).eval().save_pretrained(folder)
    return mi.load(str(folder))


@pytest.fixture(scope="module")
def linear():
    """f(e) = sum_{t,d} W[t,d] e[t,d] + 0.3, input x, baseline b; token 0 and 5 are special
    (baseline = input there, as build_problem makes it)."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(T, D, generator=g, dtype=torch.float64)
    x = torch.randn(1, T, D, generator=g, dtype=torch.float64)
    b = torch.randn(1, T, D, generator=g, dtype=torch.float64)
    special = torch.tensor([True, False, False, False, False, True])
    b[:, special] = x[:, special]

    def forward(e):                                                   # [batch, T, D] -> [batch]
        return (e * w).sum((1, 2)) + 0.3

    f = lambda e: float(forward(e)[0])  # noqa: E731
    problem = Problem(forward=forward, inputs=x, baselines=b, special=special,
                      f_input=f(x), f_baseline=f(b), batch_size=16)
    exact = ((x - b)[0] * w).sum(-1)                                  # [T], the Shapley values too
    return problem, w, x, exact


def run(problem, name, **params):
    m = METHODS[name]
    return m.fn(problem, **m.resolve(params)).scores.double()


@pytest.mark.parametrize("name", ["integrated_gradients", "gradient_shap", "feature_ablation",
                                  "kernel_shap"])
def test_methods_equal_the_exact_contributions_of_a_linear_model(linear, name):
    problem, w, x, exact = linear
    torch.testing.assert_close(run(problem, name), exact, rtol=1e-5, atol=1e-6)


def test_integrated_gradients_needs_only_its_first_try_on_a_linear_model(linear):
    problem, *_ = linear
    out = METHODS["integrated_gradients"].fn(problem, tolerance=0.01, start_steps=2, max_steps=64)
    assert out.n_steps == 2                    # the integrand is constant: any rule is exact


def test_input_x_gradient_is_input_times_weights(linear):
    problem, w, x, _ = linear
    torch.testing.assert_close(run(problem, "input_x_gradient"), (x[0] * w).sum(-1))


def test_saliency_is_the_gradient_norm(linear):
    problem, w, *_ = linear
    torch.testing.assert_close(run(problem, "saliency"), w.norm(dim=-1))


def test_occlusion_window_one_equals_ablation_and_lime_recovers_the_linear_scores(linear):
    problem, _, _, exact = linear
    torch.testing.assert_close(run(problem, "occlusion", window=1), exact)
    lime = run(problem, "lime", n_samples=200, alpha=0.0)
    free = ~problem.special
    torch.testing.assert_close(lime[free], exact[free], rtol=1e-4, atol=1e-5)
    assert (lime[problem.special] == 0).all()


def test_every_method_declares_its_parameters_with_defaults_in_range():
    assert set(METHODS) == {"integrated_gradients", "saliency", "input_x_gradient", "gradient_shap",
                            "feature_ablation", "occlusion", "lime", "kernel_shap"}
    for m in METHODS.values():
        for p in m.params:
            assert p.low <= p.default <= p.high, (m.name, p.name)
    listed = {m["name"]: m for m in mi.list_attribution_methods()}
    assert [p["name"] for p in listed["integrated_gradients"]["params"]] == [
        "tolerance", "start_steps", "max_steps"]


def test_bad_parameters_and_methods_get_clear_messages(minilm):
    with pytest.raises(InputError, match="tolerance must be in"):
        mi.attribute_text(minilm, "a cat", compare_to="a dog", tolerance=5)
    with pytest.raises(InputError, match="has no parameter 'n_steps'"):
        mi.attribute_text(minilm, "a cat", compare_to="a dog", n_steps=50)
    with pytest.raises(InputError, match="Unknown method"):
        mi.attribute_text(minilm, "a cat", method="deeplift", compare_to="a dog")
    with pytest.raises(InputError, match="Say what to explain"):
        mi.attribute_text(minilm, "a cat")
    with pytest.raises(InputError, match="Unknown baseline"):
        mi.attribute_text(minilm, "a cat", compare_to="a dog", baseline="unk2")
    with pytest.raises(InputError, match="at least two labels"):
        mi.attribute_text(minilm, "a cat", labels=["animals"])


@pytest.mark.parametrize("baseline", ["pad", "mask", "zero"])
@pytest.mark.parametrize("target", [{"compare_to": "the dog is warm ."},
                                    {"labels": ["a cat", "hello world"], "label": "hello world"}])
def test_ig_completeness_on_a_tiny_random_bert(tiny_bert, baseline, target):
    attr = mi.attribute_text(tiny_bert, "the cats sat on a warm mat !", baseline=baseline,
                             both_sides=False, **target)
    gap = attr.target_value - attr.baseline_value
    assert abs(gap) > 1e-4                                      # a real target, not a constant
    rel = abs(float(attr.scores.sum()) - gap) / abs(gap)
    assert rel <= 0.01
    assert attr.faithfulness.completeness_relative == pytest.approx(rel, rel=1e-3, abs=1e-6)
    assert attr.baseline == baseline and attr.n_steps >= 16
    assert (attr.scores[attr.special] == 0).all()               # special tokens kept in place


@pytest.mark.parametrize("baseline", ["pad", "mask", "zero"])
def test_ig_completeness_on_minilm_similarity(minilm, baseline):
    attr = mi.attribute_text(minilm, "Stock markets fell sharply as investors feared rising "
                             "interest rates.", compare_to="Shares dropped on rate worries.",
                             baseline=baseline)
    for side in (attr, attr.other):
        f = side.faithfulness
        assert f.completeness_relative <= 0.01
        assert f.completeness_error == pytest.approx(
            abs(side.scores.sum() - (side.target_value - side.baseline_value)), abs=1e-5)
    assert attr.other.text == "Shares dropped on rate worries."
    assert attr.other.other is None
    # The similarity is symmetric: both sides explain the same number.
    assert attr.target_value == pytest.approx(attr.other.target_value, abs=1e-4)
    ref = mi.inspect_text(minilm, attr.text, compare_to=attr.other.text).prediction.similarity
    assert attr.target_value == pytest.approx(ref, abs=1e-4)


def test_minilm_zero_shot_target_is_the_log_odds_of_the_label(minilm):
    labels = ["finance", "sports", "cooking"]
    attr = mi.attribute_text(minilm, "The bank raised interest rates again.", labels=labels,
                             label="finance", both_sides=False)
    view = mi.inspect_text(minilm, attr.text, labels=labels, temperature=0.05)
    p = float(view.prediction.label_probs[0])
    assert attr.target_value == pytest.approx(np.log(p / (1 - p)), abs=1e-3)
    assert attr.faithfulness.completeness_relative <= 0.01
    assert "finance" in attr.target and attr.other is None


def test_every_method_runs_on_minilm_and_the_comparison_shares_one_problem(minilm):
    comp = mi.compare_attributions(minilm, "A small dog barked at the mailman.",
                                   compare_to="The puppy was noisy.")
    assert comp.methods == list(METHODS)
    random_curves = {r.faithfulness.deletion_random.tobytes() for r in comp.results}
    assert len(random_curves) == 1                              # one shared reference
    for r in comp.results:
        assert isinstance(r, TokenAttribution) and r.seconds > 0
        assert r.scores.shape == (len(r.tokens),) and np.abs(r.scores).max() > 0
        f = r.faithfulness
        assert f.deletion[0] == pytest.approx(r.target_value, abs=1e-4)
        assert f.deletion[-1] == pytest.approx(r.baseline_value, abs=1e-4)
        assert f.insertion[0] == pytest.approx(r.baseline_value, abs=1e-4)
        assert (f.completeness_relative is None) == (not METHODS[r.method].complete)
    ig = comp.results[0]
    assert ig.faithfulness.deletion_area > 0 and ig.faithfulness.insertion_area > 0


def test_a_new_target_is_a_subclass_and_callers_do_not_change(minilm):
    """What the task targets do for class logits, [MASK] probabilities and next tokens."""
    from mminspect.explain.attribution import Target

    class ClsUnit(Target):
        def score(self, adapter, outputs, mask):
            return outputs.last_hidden_state[:, 0, 7]                   # [batch]

        def describe(self):
            return "unit 7 of the [CLS] state"

    attr = mi.attribute_text(minilm, "A small dog barked.", target=ClsUnit())
    assert attr.target == "unit 7 of the [CLS] state" and attr.other is None
    ref = minilm.internals(minilm.encode("A small dog barked.")).hidden[-1, 0, 7]
    assert attr.target_value == pytest.approx(float(ref), abs=1e-4)
    assert attr.faithfulness.completeness_relative <= 0.01
