"""Faithfulness: the maps rank words the way the model uses them, checked independently of
the curves (by deleting words from the text and re-embedding it)."""
from __future__ import annotations

import numpy as np
import pytest

import mminspect as mi
from mminspect.explain import cosine

PAIRS = [
    ("The old fisherman caught a huge salmon in the river.", "A man went fishing."),
    ("Stock prices collapsed after the bank announced heavy losses.", "The market crashed."),
    ("She played a beautiful melody on the violin last night.", "Music was performed."),
    ("The toddler spilled orange juice all over the kitchen floor.", "A child made a mess."),
    ("Heavy snow closed every road in the mountain village.", "Winter weather blocked travel."),
    ("The surgeon carefully removed the tumour during a long operation.", "A doctor operated."),
]


def without_word(text: str, span) -> str:
    a, b = span
    return (text[:a] + text[b:]).replace("  ", " ").strip()


@pytest.mark.parametrize("method", ["integrated_gradients", "feature_ablation"])
def test_deleting_the_top_word_lowers_similarity_more_than_a_random_word(minilm, method):
    top_drops, random_drops = [], []
    for text, other in PAIRS:
        attr = mi.attribute_text(minilm, text, method=method, compare_to=other,
                                 both_sides=False, faithfulness=False)
        ref = minilm.embed([other])
        variants = [without_word(text, span) for span in attr.word_offsets]   # one per word
        sims = cosine(minilm.embed(variants), ref)[:, 0]                      # [word]
        drops = attr.target_value - sims                                      # [word]
        top_drops.append(drops[int(np.argmax(attr.word_scores))])
        random_drops.append(drops.mean())             # the expected drop of a random word
    assert np.mean(top_drops) > np.mean(random_drops) + 0.02
    assert sum(t > r for t, r in zip(top_drops, random_drops)) >= len(PAIRS) - 1


def test_curves_start_and_end_at_the_input_and_baseline_and_ig_beats_random(minilm):
    attr = mi.attribute_text(minilm, *PAIRS[0][:1], compare_to=PAIRS[0][1], both_sides=False)
    f = attr.faithfulness
    assert f.fractions[0] == 0 and f.fractions[-1] == 1
    assert np.all(np.diff(f.fractions) > 0) and len(f.fractions) <= 7
    for curve in (f.deletion, f.deletion_random):
        assert curve[0] == pytest.approx(attr.target_value, abs=1e-4)
        assert curve[-1] == pytest.approx(attr.baseline_value, abs=1e-4)
    for curve in (f.insertion, f.insertion_random):
        assert curve[0] == pytest.approx(attr.baseline_value, abs=1e-4)
        assert curve[-1] == pytest.approx(attr.target_value, abs=1e-4)
    expected = np.trapezoid(f.deletion_random - f.deletion, f.fractions)
    assert f.deletion_area == pytest.approx(expected, rel=1e-5)
    assert f.deletion_area > 0.02 and f.insertion_area > 0.02
    assert f.area == pytest.approx((f.deletion_area + f.insertion_area) / 2)


def test_a_reversed_map_scores_worse_than_random(minilm):
    """The curves respond to the order: negating IG's scores must make the areas negative."""
    from mminspect.explain.attribution import SimilarityTarget, build_problem, faithfulness
    text, other = PAIRS[1]
    attr = mi.attribute_text(minilm, text, compare_to=other, both_sides=False, faithfulness=False)
    problem = build_problem(minilm, minilm.encode(text), SimilarityTarget(other).prepare(minilm))
    good = faithfulness(problem, attr.scores)
    bad = faithfulness(problem, -attr.scores)
    assert good.deletion_area > 0 > bad.deletion_area
    assert good.insertion_area > 0 > bad.insertion_area
