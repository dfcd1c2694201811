"""Lessons are data: every shipped file loads, a broken file is refused with its name and the
field, and every measure's answer on the bundled models matches the same number computed
another way (from the model's own attention, by hand, or with scipy)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

import mminspect as mi
from mminspect.api import lesson_measures as lm
from mminspect.api.lessons import (LESSON_DIR, PANELS, LessonError, LessonState, list_lessons,
                                   load_lesson, run_lesson)

TEXT = "The cat sat on the mat because it was warm."
GOOD = """
title = "T"
summary = "S"
why = "W"
next = "N"
[state]
model = "minilm"
text = "The cat sat."
panel = "softmax"
[question]
text = "Q?"
choices = ["sharper", "flatter", "no change"]
measure = "scale_entropy"
"""


@pytest.fixture(scope="module")
def miniclip():
    return mi.load("miniclip")


def test_every_shipped_lesson_loads_with_a_known_measure_and_panel():
    lessons = list_lessons()
    assert len(lessons) >= 6
    assert len({x.title for x in lessons}) == len(lessons)
    for lesson in lessons:
        assert lesson.state.panel in PANELS and lesson.measure in lm.MEASURES
        assert lesson.summary.strip() and lesson.why.strip() and lesson.next.strip()
    # the six topics: one head, √d, position/no-op heads, masking, CLIP, attention vs attribution
    used = {x.measure for x in lessons}
    assert {"embedding_sum", "top_key", "scale_entropy", "head_kind", "future_share", "clip_pick",
            "attention_vs_attribution"} <= used


@pytest.mark.parametrize("broken, words", [
    (GOOD.replace('measure = "scale_entropy"', 'measure = "nope"'), ["bad.toml", "[question]", "'nope'", "top_key"]),
    (GOOD.replace('title = "T"\n', ""), ["bad.toml", "'title' is missing"]),
    (GOOD.replace('panel = "softmax"', 'panel = "nowhere"'), ["bad.toml", "panel 'nowhere'"]),
    (GOOD.replace('layer = 0\n', "").replace('panel = "softmax"', 'panel = "softmax"\nlayer = "two"'),
     ["bad.toml", "'layer' must be int"]),
    (GOOD.replace('"no change"]', '"maybe"]'), ["bad.toml", "add ['no change'] to the choices"]),
    (GOOD.replace('choices = ["sharper", "flatter", "no change"]', 'choices = "keys"'),
     ["bad.toml", "one of ['sharper', 'flatter', 'no change']"]),
    (GOOD.replace("[question]", "[questions]"), ["bad.toml", "[question] is missing"]),
    (GOOD + "\n= broken", ["bad.toml", "not valid TOML"]),
])
def test_a_broken_lesson_is_refused_naming_the_file_and_the_field(tmp_path, broken, words):
    path = tmp_path / "bad.toml"
    path.write_text(broken)
    with pytest.raises(LessonError) as err:
        load_lesson(path)
    for w in words:
        assert w in str(err.value), str(err.value)


def test_a_new_lesson_is_a_new_file(tmp_path):
    (tmp_path / "a.toml").write_text(GOOD)
    (lesson,) = list_lessons(tmp_path)
    assert lesson.key == "a" and lesson.choices == ("sharper", "flatter", "no change")


def test_every_shipped_lesson_runs_and_its_answer_is_one_of_its_choices(minilm, miniclip):
    models = {"minilm": minilm, "miniclip": miniclip}
    for lesson in list_lessons():
        out = run_lesson(lesson, models.get(lesson.state.model, lesson.state.model))   # others by name
        assert out.answer in out.choices, (lesson.key, out.answer, out.choices)
        assert np.isfinite(out.value) and out.text


def state(**kw) -> LessonState:
    return LessonState(**{"model": "minilm", "text": TEXT, "panel": "softmax", **kw})


def test_top_key_is_the_models_own_attention_argmax(minilm):
    out = lm.top_key(minilm, state(layer=4, head=3, query="it"))
    w = mi.inspect_text(minilm, TEXT).attention.weights[4, 3]             # the model's own
    q = 8                                                                  # "it"
    assert out.answer == lm.key_choices(out.evidence["trace"].tokens)[int(np.argmax(w[q]))]
    assert abs(out.value - w[q].max()) < 1e-5


def test_scale_entropy_with_the_scale_is_the_head_summarys_and_without_is_recomputed(minilm):
    out = lm.scale_entropy(minilm, state(layer=4, head=3))
    summary = mi.api.head_summary(mi.inspect_text(minilm, TEXT).attention)
    assert abs(out.evidence["with"] - summary.entropy[4, 3]) < 1e-4
    tr = out.evidence["trace"]
    raw = tr.q.astype(np.float64) @ tr.k.T.astype(np.float64)            # [query, key], no scale
    p = np.exp(raw - raw.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    by_hand = float(np.mean([-(r[r > 0] * np.log(r[r > 0])).sum() for r in p]))
    assert abs(out.value - by_hand) < 1e-3
    assert out.answer == "sharper" and out.value < out.evidence["with"]


@pytest.mark.parametrize("layer, head, kind", [(0, 2, "looks at the previous token"),
                                               (2, 7, "parks on [CLS]/[SEP]")])
def test_head_kind_shares_are_recomputed_from_the_attention(minilm, layer, head, kind):
    out = lm.head_kind(minilm, state(layer=layer, head=head))
    maps = mi.inspect_text(minilm, TEXT).attention
    w = maps.weights[layer, head].astype(np.float64)                      # [query, key]
    by_hand = {"looks at the previous token": np.diagonal(w, offset=-1).mean(),
               "parks on [CLS]/[SEP]": w[:, maps.special].sum(1).mean()}
    assert out.answer == kind and abs(out.value - by_hand[kind]) < 1e-5


def test_future_share_averages_over_the_words_not_the_special_rows(minilm):
    out = lm.future_share(minilm, state(layer=0, head=3, query="cat"))
    maps = mi.inspect_text(minilm, TEXT).attention
    w = maps.weights[0, 3].astype(np.float64)
    rows = [i for i in range(len(w)) if not maps.special[i]]            # the 11 words
    by_hand = np.mean([w[i, i + 1:].sum() for i in rows])
    assert abs(out.value - by_hand) < 1e-5
    every = np.mean([w[i, i + 1:].sum() for i in range(len(w) - 1)])   # [CLS] row included
    assert abs(out.evidence["every_query"] - every) < 1e-5
    assert abs(by_hand - every) > 0.01                     # the two averages really differ here
    assert f"{100 * by_hand:.1f} %" in out.text and f"{100 * every:.1f} %" in out.text
    assert f"over the {len(rows)} words" in out.text
    causal = list(out.evidence["series"].values())[1]
    assert abs(causal.sum() - 1) < 1e-5 and np.all(causal[3:] == 0)       # "cat" is token 2


def test_clip_pick_is_the_softmax_of_the_scaled_cosines(miniclip):
    prompts = ["a blue circle", "a red cross", "a blue square"]
    title = "scene 3: a blue circle and a red cross"
    out = lm.clip_pick(miniclip, state(model="miniclip", tower="image", example=title,
                                       text="\n".join(prompts), panel="clip"))
    view = mi.inspect_clip(miniclip, mi.load_example(title).image, prompts)
    z = view.logit_scale * view.cosine[0].astype(np.float64)
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    assert out.answer == prompts[int(np.argmax(p))] and abs(out.value - p.max()) < 1e-4


def test_attention_vs_attribution_is_scipys_rank_correlation(minilm):
    out = lm.attention_vs_attribution(minilm, state(compare_to="The weather was warm.", panel="compare"))
    maps = mi.inspect_text(minilm, TEXT).attention
    received = maps.weights.mean((0, 1, 2))[~maps.special]
    np.testing.assert_allclose(out.evidence["series"]["attention received"], received, atol=1e-6)
    attr = list(out.evidence["series"].values())[1]                      # signed, [PAD] baseline
    rho = spearmanr(received, np.abs(attr)).statistic
    assert abs(out.value - rho) < 1e-6 and abs(out.evidence["rho"]["pad"] - rho) < 1e-6
    signed = spearmanr(received, attr).statistic
    assert abs(out.evidence["rho_signed"] - signed) < 1e-6
    assert "|attribution|" in out.text and f"{signed:+.2f}" in out.text
    assert out.answer == "a different word"           # attention: "cat"; attribution: "warm"


def test_attention_vs_attribution_says_how_rho_moves_with_the_baseline(minilm):
    """Each baseline's ρ is recomputed from its own attribution run: the sentence must carry
    the measured numbers, not typed ones."""
    compare = "The weather was warm."
    out = lm.attention_vs_attribution(minilm, state(compare_to=compare, panel="compare"))
    maps = mi.inspect_text(minilm, TEXT).attention
    received = maps.weights.mean((0, 1, 2))[~maps.special]
    for baseline, word in (("pad", "[PAD]"), ("mask", "[MASK]"), ("zero", "zeros")):
        attr = mi.attribute_text(minilm, TEXT, compare_to=compare, baseline=baseline,
                                 faithfulness=False, both_sides=False)
        rho = spearmanr(received, np.abs(attr.scores[~maps.special])).statistic
        assert abs(out.evidence["rho"][baseline] - rho) < 1e-6
        assert f"{rho:+.2f} with {word}" in out.text


def test_embedding_sum_is_the_sum_of_its_parts(minilm):
    out = lm.embedding_sum(minilm, state(text="The cat sat on the mat.", panel="embeddings"))
    emb = out.evidence["embeddings"]
    assert set(emb.parts) == {"word", "position", "segment"}
    np.testing.assert_allclose(sum(emb.parts.values()), emb.total, atol=1e-5)
    assert out.answer == "added into one vector" and out.value == emb.total.shape[1] == 384


def test_a_query_that_is_not_in_the_text_gets_a_clear_message(minilm):
    with pytest.raises(LessonError, match="'dog' is not among the tokens"):
        lm.top_key(minilm, state(query="dog"))


def test_shipped_lessons_live_in_assets():
    assert LESSON_DIR.name == "lessons" and any(LESSON_DIR.glob("*.toml"))


def test_a_lesson_opened_by_a_class_is_measured_once_per_model(monkeypatch, minilm):
    """Thirty students opening the same lesson share one measurement (by model name); an
    adapter passed in is measured every time (it may be a changed copy)."""
    from dataclasses import replace
    from mminspect.api import lessons as lessons_mod
    lesson = list_lessons()[0]
    calls = []
    real = lm.MEASURES[lesson.measure]

    def counting(adapter, state):
        calls.append(adapter.name)
        return real.fn(adapter, state)

    monkeypatch.setitem(lm.MEASURES, lesson.measure, replace(real, fn=counting))
    monkeypatch.setattr(lessons_mod, "_MEASURED", {})
    first = mi.api.run_lesson(lesson)
    again = [mi.api.run_lesson(lesson) for _ in range(5)]
    assert len(calls) == 1 and all(a is first for a in again)
    other = replace(lesson, question=lesson.question + " (changed)")
    mi.api.run_lesson(other)                       # another lesson's content: measured anew
    mi.api.run_lesson(lesson, model=minilm)        # an adapter given: measured, not cached
    assert len(calls) == 3
