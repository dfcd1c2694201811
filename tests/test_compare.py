"""mi.compare: alignment by edit distance, Jensen–Shannon attention distance, attribution
differences and prediction changes, checked against numbers computed by hand."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr

import mminspect as mi
from mminspect.explain.compare_align import align_tokens, edit_distance, relative_depth
from mminspect.explain.compare_attention import LN2, attention_distance, js_divergence
from mminspect.types import AttentionMaps, InputError


def test_alignment_marks_an_inserted_word_and_keeps_the_rest_paired():
    al = align_tokens(["[CLS]", "it", "was", "good", "[SEP]"],
                      ["[CLS]", "it", "was", "not", "good", "[SEP]"])
    assert al.ops == ["same", "same", "same", "inserted", "same", "same"]
    assert al.a_index.tolist() == [0, 1, 2, -1, 3, 4]
    assert al.labels[3] == "+not"


def test_alignment_pairs_a_changed_token_with_the_one_it_replaced():
    al = align_tokens(["the", "cat", "sat"], ["the", "cats", "sat"])
    assert al.ops == ["same", "changed", "same"] and al.labels[1] == "cat→cats"
    assert edit_distance(["a", "b", "c"], ["c", "b", "a"]) == 2      # by hand: two substitutions
    assert edit_distance([], ["x", "y"]) == 2


def test_relative_depth_maps_first_to_first_and_last_to_last():
    assert relative_depth(6, 6).tolist() == list(range(6))
    assert relative_depth(6, 3).tolist() == [0, 0, 1, 1, 2, 2]     # round(i * 2 / 5)
    assert relative_depth(3, 12).tolist() == [0, 6, 11]             # round(i * 11 / 2) half-even


def test_js_is_symmetric_zero_on_equal_rows_and_bounded_by_ln2():
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(7), 50), rng.dirichlet(np.ones(7), 50)   # [row, key]
    js = js_divergence(p, q)
    np.testing.assert_allclose(js, js_divergence(q, p), atol=1e-12)
    np.testing.assert_allclose(js, [jensenshannon(x, y) ** 2 for x, y in zip(p, q)], atol=1e-9)
    assert (js >= 0).all() and (js <= LN2).all()
    assert js_divergence(p, p).max() == 0.0
    assert js_divergence([1.0, 0.0], [0.0, 1.0]) == pytest.approx(LN2)   # disjoint: the bound


def test_a_one_token_change_moves_only_its_own_row_in_a_position_local_head():
    # A hand-built one-layer, one-head "model": every query attends to itself and its left
    # neighbour with weights set by its own token only, so changing token 2 changes row 2 only.
    own = {"a": 0.8, "b": 0.6, "c": 0.3, "x": 0.1}

    def attention(tokens):
        w = np.zeros((1, 1, len(tokens), len(tokens)))
        w[0, 0, 0, 0] = 1.0
        for i, t in enumerate(tokens[1:], 1):
            w[0, 0, i, i], w[0, 0, i, i - 1] = own[t], 1 - own[t]
        return w

    ta, tb = ["a", "b", "c", "a"], ["a", "b", "x", "a"]
    al = align_tokens(ta, tb)
    head, row = attention_distance(attention(ta), attention(tb), al, np.array([0]))
    by_hand = js_divergence([0.7, 0.3], [0.9, 0.1])           # row 2: (1-own, own) of c vs x
    np.testing.assert_allclose(row[0, 0], [0, 0, by_hand, 0], atol=1e-7)
    np.testing.assert_allclose(head[0, 0], by_hand / 4, atol=1e-7)


def test_the_float32_row_distance_keeps_its_relative_precision_near_zero_and_near_ln2():
    """attention_distance computes JS in float32 in a form without cancellation: it must agree
    with scipy's float64 JS to a relative 1e-5 on nearly equal rows (JS ~ 1e-7), on rows that
    share almost nothing (JS ~ ln 2) and on rows with keys only one side has."""
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(40), size=30)                               # [row, key]
    near = p * (1 + 1e-3 * rng.standard_normal(p.shape))                  # nearly equal
    apart = np.roll(p ** 8, 7, axis=-1) + 1e-9                            # peaked elsewhere
    holes = p * (rng.random(p.shape) > 0.3)                               # some keys are 0
    for q in (near, apart, holes):
        q = q / q.sum(-1, keepdims=True)
        a, b = p.astype(np.float32), q.astype(np.float32)
        al = align_tokens([str(i) for i in range(40)], [str(i) for i in range(40)])
        wa = np.zeros((1, 1, 40, 40), np.float32)
        wb = np.zeros((1, 1, 40, 40), np.float32)
        wa[0, 0, :30], wb[0, 0, :30] = a, b
        _, row = attention_distance(wa, wb, al, np.array([0]))
        exact = np.array([jensenshannon(x, y) ** 2 for x, y in zip(a.astype(np.float64),
                                                                   b.astype(np.float64))])
        np.testing.assert_allclose(row[0, 0, :30], exact, rtol=1e-5, atol=1e-12)
    assert exact.min() > 0


def test_an_inserted_key_counts_as_weight_the_other_side_lacks():
    al = align_tokens(["p", "q"], ["p", "new", "q"])
    wa = np.array([[[[1.0, 0.0], [0.5, 0.5]]]])                           # [1, 1, 2, 2]
    wb = np.array([[[[1.0, 0.0, 0.0], [0.2, 0.6, 0.2], [0.5, 0.0, 0.5]]]])  # [1, 1, 3, 3]
    _, row = attention_distance(wa, wb, al, np.array([0]))
    assert np.isnan(row[0, 0, 1])                                          # "new": no row in A
    np.testing.assert_allclose(row[0, 0, [0, 2]], [0.0, 0.0], atol=1e-7)
    wb[0, 0, 2] = [0.25, 0.5, 0.25]                                        # q now looks at "new"
    _, row = attention_distance(wa, wb, al, np.array([0]))
    expected = jensenshannon([0.5, 0.0, 0.5], [0.25, 0.5, 0.25]) ** 2
    assert row[0, 0, 2] == pytest.approx(expected, abs=1e-6)


def test_compare_of_a_view_with_itself_is_zero_everywhere(tiny_bert):
    view = mi.inspect_text(tiny_bert, "the cat sat on the mat.")
    diff = mi.compare(view, view)
    assert diff.alignment.n_edits == 0
    assert diff.head_js.max() == 0.0 and np.nanmax(diff.row_js) == 0.0
    assert diff.layer_js.max() == 0.0 and diff.notes == []


def _js_by_hand(p, q):
    p, q = np.float64(p), np.float64(q)
    m = (p + q) / 2
    return 0.5 * rel_entr(p, m).sum() + 0.5 * rel_entr(q, m).sum()


def test_compare_matches_jensen_shannon_computed_by_hand_on_the_tiny_model(tiny_bert):
    a = mi.inspect_text(tiny_bert, "the cat sat on the mat.")
    b = mi.inspect_text(tiny_bert, "the dog sat on the mat.")
    diff = mi.compare(a, b)
    assert diff.alignment.ops.count("changed") == 1 and diff.alignment.n_edits == 1
    wa, wb = a.attention.weights, b.attention.weights                     # same length: same axis
    for layer in range(2):
        for head in range(2):
            by_hand = np.mean([_js_by_hand(wa[layer, head, q], wb[layer, head, q])
                               for q in range(len(a.tokens))])
            assert diff.head_js[layer, head] == pytest.approx(by_hand, rel=1e-3, abs=1e-10)
    assert diff.top_heads[0][2] == pytest.approx(diff.head_js.max())
    assert diff.top_heads[0][2] > 0


def test_models_of_different_depths_are_aligned_by_relative_depth(tiny_bert):
    a = mi.inspect_text(tiny_bert, "the cat sat.")
    w = a.attention.weights                                                # [2, head, q, k]
    deep = np.concatenate([w, w])                                          # layers 0 1 0 1
    b = dataclasses.replace(a, attention=AttentionMaps(deep, a.tokens, a.attention.special),
                            hidden_norms=np.concatenate([a.hidden_norms, a.hidden_norms[1:]]),
                            model_name="deeper")
    diff = mi.compare(a, b)
    assert diff.layer_map.tolist() == [0, 3]              # A0↔B0 (= layer 0), A1↔B3 (= layer 1)
    assert diff.head_js.max() == 0.0
    assert any("relative depth" in n for n in diff.notes)


def test_lens_ranks_and_the_masked_fill_change(task_models):
    mlm = task_models["bert-mlm"]
    a = mi.inspect_text(mlm, "the cat [MASK] on the mat.", logit_lens=True)
    b = mi.inspect_text(mlm, "the dog [MASK] on the mat.", logit_lens=True)
    diff = mi.compare(a, b)
    assert diff.lens_rank_a.shape == (a.attention.n_layers + 1, len(diff.alignment.ops))
    np.testing.assert_array_equal(diff.lens_rank_a, a.lens.final_rank)   # no gaps: same axis
    np.testing.assert_array_equal(diff.lens_rank_b, b.lens.final_rank)
    fa, fb = a.prediction.fills[0], b.prediction.fills[0]
    assert f"{fa.tokens[0]!r} ({fa.probs[0]:.2f}) → {fb.tokens[0]!r}" in diff.prediction[0]


def test_attribution_differences_per_aligned_word(tiny_bert):
    kw = dict(method="saliency", compare_to="a warm rug", faithfulness=False, both_sides=False)
    a = mi.attribute_text(tiny_bert, "the cat sat", **kw)
    b = mi.attribute_text(tiny_bert, "the cat is on the mat", **kw)
    diff = mi.compare(a, b)
    both = diff.alignment.both
    np.testing.assert_allclose(diff.word_a[both], a.word_scores[diff.alignment.a_index[both]])
    np.testing.assert_allclose(diff.word_diff[both],
                               diff.word_a[both] - b.word_scores[diff.alignment.b_index[both]])
    assert np.isnan(diff.word_diff[~both]).all() and (~both).sum() == 3
    assert diff.prediction_delta == pytest.approx(b.target_value - a.target_value)
    assert mi.compare(a, a).word_diff.max() == 0.0


def test_compare_refuses_two_results_of_different_kinds(tiny_bert):
    view = mi.inspect_text(tiny_bert, "the cat")
    with pytest.raises(InputError, match="same kind"):
        mi.compare(view, "the cat")


def test_randomizing_the_last_layer_changes_only_that_layer_and_not_the_loaded_model(tiny_bert):
    before = mi.inspect_text(tiny_bert, "the cat sat on the mat.")
    random = mi.randomized_copy(tiny_bert, k=1, seed=3)
    assert random is not tiny_bert and "last 1 layer random" in random.name
    diff = mi.compare_texts(tiny_bert, "the cat sat on the mat.", "the cat sat on the mat.",
                            model_b=random)
    assert diff.head_js[0].max() == 0.0                  # layer 0 is shared, untouched
    assert diff.head_js[1].min() > 0.0                   # every head of the random layer moved
    after = mi.inspect_text(tiny_bert, "the cat sat on the mat.")
    np.testing.assert_array_equal(before.attention.weights, after.attention.weights)
    with pytest.raises(InputError, match="k must be between 1 and 2"):
        mi.randomized_copy(tiny_bert, k=3)


def test_minimal_pairs_differ_where_their_names_say(minilm):
    assert {p["name"] for p in mi.list_pairs()} == {"negation", "number", "word order", "swapped roles"}
    diff = mi.compare_texts(minilm, *mi.minimal_pair("negation"), labels=["good", "bad"])
    assert diff.alignment.n_edits == 1 and diff.alignment.labels[4] == "+not"
    assert diff.prediction_delta is not None and diff.top_heads[0][2] > 0
    with pytest.raises(InputError, match="No minimal pair"):
        mi.minimal_pair("sarcasm")


def test_insert_not_lesson_finds_the_row_that_moved_most(minilm):
    from mminspect.api.compare_lesson import ROW_PLACES, changed_rows
    from mminspect.api.lesson_types import LessonState
    a, b = mi.minimal_pair("negation")
    out = changed_rows(minilm, LessonState(model="minilm", text=a, compare_to=b, panel="compare"))
    diff = mi.compare_texts(minilm, a, b)
    rows = np.nanmean(diff.row_js, (0, 1))                         # [slot]; NaN at "+not"
    slot = int(np.nanargmax(rows))
    assert out.value == pytest.approx(rows[slot], rel=1e-5)
    assert f"the row of “{diff.alignment.labels[slot]}” moved most" in out.text
    ops = diff.alignment.ops
    place = (3 if diff.a.attention.special[diff.alignment.a_index[slot]] else
             0 if ops[slot - 1] != "same" else 1 if ops[slot + 1] != "same" else 2)
    assert out.answer == ROW_PLACES[place] == "the word right after the change"   # "good"
    assert f"layer {diff.top_heads[0][0]}, head {diff.top_heads[0][1]}" in out.text


def test_a_comparison_saves_and_loads_back_equal(tiny_bert, tmp_path):
    from mminspect.types.serialize import results_equal
    a = mi.inspect_text(tiny_bert, "the cat sat")
    b = mi.inspect_text(tiny_bert, "the cat is not on the mat")
    diff = mi.compare(a, b)
    back = mi.load_result(mi.save_result(diff, tmp_path / "diff.json"))
    assert results_equal(diff, back) and back.top_heads == diff.top_heads
    assert np.isnan(back.row_js).sum() == np.isnan(diff.row_js).sum() > 0   # the gaps stay NaN


def test_the_report_of_a_comparison_carries_both_sides(tiny_bert, tmp_path):
    a = mi.inspect_text(tiny_bert, "the cat sat")
    b = mi.inspect_text(tiny_bert, "the dog sat")
    diff = mi.compare(a, b)
    page = mi.report(diff, tmp_path / "diff.html").read_text()
    assert "the cat sat" in page and "the dog sat" in page and "cat→dog" in page
    assert "The head that changed most" in page and "diff = mi.compare(a, b)" in page
    code = page.split("<h2>Reproduce it</h2>")[1]
    assert code.count("mi.inspect_text(model, ") == 2 and "a = view" in code and "b = view" in code


def test_two_models_of_different_depth_and_heads_compare_layer_means(tiny_bert, tmp_path):
    from conftest import build_tiny_bert
    deep = mi.load(str(build_tiny_bert(tmp_path / "deep", n_layers=4, n_heads=4, seed=1)))
    diff = mi.compare_texts(tiny_bert, "the cat sat", "the cat sat", model_b=deep)
    assert diff.layer_map.tolist() == [0, 3] and diff.head_js.shape == (2, 1)
    assert any("relative depth" in n for n in diff.notes)
    assert any("mean over heads" in n for n in diff.notes)
    wa = diff.a.attention.weights.mean(1)                       # [layer, q, k] means over heads
    wb = diff.b.attention.weights.mean(1)[[0, 3]]
    by_hand = np.mean([_js_by_hand(wa[0, q], wb[0, q]) for q in range(wa.shape[1])])
    assert diff.head_js[0, 0] == pytest.approx(by_hand, rel=1e-3, abs=1e-10)


def test_bert_against_distilbert_on_one_vocabulary(task_models):
    diff = mi.compare_texts(task_models["bert-mlm"], "the cat [MASK] on the mat.",
                            "the cat [MASK] on the mat.", model_b=task_models["distilbert-mlm"],
                            logit_lens=True)
    assert diff.alignment.n_edits == 0 and diff.head_js.shape == (2, 2)
    assert diff.head_js.min() > 0 and diff.lens_rank_b is not None       # two different models
    assert diff.prediction[0].startswith("Top filler:")


def _align_by_whole_table(a, b):
    """The alignment from the whole edit-distance table, pure Python, walked back from the
    end with the diagonal first on ties: what align_tokens must return."""
    n, m = len(a), len(b)
    cost = [[i + j if i == 0 or j == 0 else 0 for j in range(m + 1)] for i in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i][j] = min(cost[i - 1][j - 1] + (a[i - 1] != b[j - 1]),
                             cost[i - 1][j] + 1, cost[i][j - 1] + 1)
    i, j, pairs = n, m, []
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i][j] == cost[i - 1][j - 1] + (a[i - 1] != b[j - 1]):
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif i > 0 and cost[i][j] == cost[i - 1][j] + 1:
            pairs.append((i - 1, -1))
            i -= 1
        else:
            pairs.append((-1, j - 1))
            j -= 1
    return pairs[::-1], cost[n][m]


def test_alignment_equals_the_whole_table_walk_on_random_sequences():
    """align_tokens pairs equal last tokens before building its table (a shortcut): on 2,000
    random sequences over small alphabets (many ties, repeated tokens, shared endings) it
    must pair exactly as the whole table does."""
    import random
    rng = random.Random(7)
    for _ in range(2000):
        alphabet = "abcx"[:rng.randint(1, 4)]
        a = [rng.choice(alphabet) for _ in range(rng.randint(0, 9))]
        b = [rng.choice(alphabet) for _ in range(rng.randint(0, 9))]
        pairs, distance = _align_by_whole_table(a, b)
        al = align_tokens(a, b)
        assert list(zip(al.a_index.tolist(), al.b_index.tolist())) == pairs, (a, b)
        assert edit_distance(a, b) == distance
