"""bfloat16 for the forward-only work (perturbation and surrogate methods, the deletion /
insertion curves): the maps it gives agree with float32 as closely as the on-screen note says,
the note appears exactly when reduced precision ran, gradient methods stay float32, and the
time budget estimates each part in the precision it runs in."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import mminspect as mi
from mminspect.explain.attribution import METHODS, Job, SimilarityTarget, build_problem
from mminspect.explain.attribution.precision import (in_precision, native_bf16,
                                                     resolve_precision)

# ~250 MiniLM tokens of ordinary prose: the length the note's figures are stated for
LONG = ("Transformers read every token of a sentence at once. Each layer mixes "
        "between positions with attention, then applies a small feed-forward network to each "
        "position. The model was trained on many sentence pairs, so that similar sentences get "
        "similar vectors. A student asked why the word bank can mean the side of a river or a "
        "place that keeps money, and the teacher said that context changes the vector of each "
        "word, layer after layer. ") * 3
OTHER = "A teacher explains how words get their meaning from context."


def test_unknown_precision_is_refused_with_the_choices():
    with pytest.raises(mi.InputError, match="float32"):
        resolve_precision("half", torch.device("cpu"))


def test_an_unknown_precision_is_refused_before_any_model_work():
    with pytest.raises(mi.InputError, match="Unknown precision 'fp8'"):
        mi.attribute_text("no-such-model", "A text.", "occlusion", compare_to="B.",
                          precision="fp8")


def test_the_host_sets_the_default_and_a_bad_value_names_its_variable(minilm, monkeypatch):
    monkeypatch.setenv("MMINSPECT_PRECISION", "float32")
    attr = mi.attribute_text(minilm, "The old fisherman pulled his boat.", "occlusion",
                             compare_to=OTHER, both_sides=False)
    assert not any("bfloat16" in n for n in attr.notes)
    monkeypatch.setenv("MMINSPECT_PRECISION", "bfloat16")
    attr = mi.attribute_text(minilm, "The old fisherman pulled his boat.", "occlusion",
                             compare_to=OTHER, both_sides=False)
    assert any("Computed in bfloat16" in n for n in attr.notes)
    monkeypatch.setenv("MMINSPECT_PRECISION", "half")
    with pytest.raises(ValueError, match="MMINSPECT_PRECISION"):
        mi.attribute_text(minilm, "A text.", "occlusion", compare_to="B.")


def test_auto_follows_the_hardware_and_float32_is_exact():
    cpu = torch.device("cpu")
    assert resolve_precision("float32", cpu) is None
    assert resolve_precision("bfloat16", cpu) is torch.bfloat16
    assert resolve_precision("auto", cpu) is (torch.bfloat16 if native_bf16(cpu) else None)


@pytest.fixture(scope="module")
def long_pair(minilm):
    assert 230 <= len(minilm.encode(LONG).tokens) <= 260
    out = {}
    for precision in ("float32", "bfloat16"):
        out[precision] = {m: mi.attribute_text(minilm, LONG, m, compare_to=OTHER,
                                               both_sides=False, faithfulness=False,
                                               budget_s=1e6, precision=precision)
                          for m in ("feature_ablation", "occlusion")}
    return out


@pytest.mark.parametrize("method", ["feature_ablation", "occlusion"])
def test_bfloat16_maps_agree_with_float32_as_the_note_says(long_pair, method):
    exact = long_pair["float32"][method].scores
    fast = long_pair["bfloat16"][method].scores
    assert spearmanr(exact, fast)[0] >= 0.99
    assert np.abs(exact - fast).max() <= 0.10 * np.abs(exact).max()
    assert not np.array_equal(exact, fast)          # it really ran in another precision


def test_the_note_appears_exactly_when_bfloat16_ran(long_pair):
    assert any("bfloat16" in n for n in long_pair["bfloat16"]["occlusion"].notes)
    assert not any("bfloat16" in n for n in long_pair["float32"]["occlusion"].notes)


def test_gradient_methods_stay_float32_and_say_only_their_curves_changed(minilm):
    text = "The old fisherman pulled his boat onto the beach."
    a = mi.attribute_text(minilm, text, "saliency", compare_to=OTHER, both_sides=False,
                          precision="float32")
    b = mi.attribute_text(minilm, text, "saliency", compare_to=OTHER, both_sides=False,
                          precision="bfloat16")
    np.testing.assert_array_equal(a.scores, b.scores)
    assert any("curves ran in bfloat16" in n for n in b.notes)


def test_a_bfloat16_problem_runs_in_bfloat16_but_keeps_the_model_s_own_target(minilm):
    """Its forward runs under autocast (values close to, not equal to, float32's); f(input)
    and f(baseline) stay the float32 ones every method and curve is anchored to."""
    enc = minilm.encode("The old fisherman pulled his small wooden boat onto the beach.")
    problem = build_problem(minilm, enc, SimilarityTarget(OTHER).prepare(minilm), "pad")
    fast = in_precision(problem, torch.bfloat16)
    with torch.no_grad():
        low = fast.forward(torch.cat([problem.inputs, problem.baselines])).tolist()
    assert low == pytest.approx([problem.f_input, problem.f_baseline], abs=0.02)
    assert low != [problem.f_input, problem.f_baseline]
    assert (fast.f_input, fast.f_baseline) == (problem.f_input, problem.f_baseline)
    assert fast.unit_s > 0 and in_precision(problem, None) is problem


def test_the_budget_counts_curves_at_their_own_precision(minilm):
    enc = minilm.encode("The old fisherman pulled his small wooden boat onto the beach.")
    problem = build_problem(minilm, enc, SimilarityTarget(OTHER).prepare(minilm), "pad")
    slow = replace(problem, unit_s=1.0, call_s=0.0)
    quick = replace(problem, unit_s=0.01, call_s=0.0)
    m = METHODS["saliency"]
    job = Job(m, m.resolve({}), slow, curve_orders=1, curve_problem=quick)
    curves = job.extra_units * 0.01
    assert job.seconds() == pytest.approx(job.units() * 1.0 + curves)
    assert Job(m, m.resolve({}), slow, curve_orders=1).seconds() == pytest.approx(
        (job.units() + job.extra_units) * 1.0)


def test_compare_all_in_bfloat16_keeps_one_reference_for_every_map(minilm):
    """Every map's curves and the shared random reference run in the same precision: each
    result's random curve is the same array, and every curve starts at the model's value."""
    cmp = mi.compare_attributions(minilm, "The old fisherman pulled his boat onto the beach.",
                                  methods=["saliency", "feature_ablation"], compare_to=OTHER,
                                  precision="bfloat16")
    a, b = (r.faithfulness for r in cmp.results)
    np.testing.assert_array_equal(a.deletion_random, b.deletion_random)
    assert a.deletion[0] == b.deletion[0] == a.deletion_random[0] == cmp.results[1].target_value
    assert len({r.target_value for r in cmp.results}) == 1
    # the comparison table says it on screen, each note once with the methods it concerns
    from mminspect.figures.attribution import comparison_html
    page = comparison_html(cmp, labels={"saliency": "Saliency", "feature_ablation": "FA"})
    assert page.count("Computed in bfloat16") == 1 and "<b>FA</b>: Computed in bfloat16" in page
    assert page.count("curves ran in bfloat16") == 1 and "<b>Saliency</b>: Its deletion" in page
