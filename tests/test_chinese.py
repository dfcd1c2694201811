"""Chinese text: the English-only MiniLM says it cannot read it (one note, naming models that
can), and the listed models that read Chinese work on tiny random builds whose small
vocabularies hold Chinese characters (tests/chinese_tiny.py)."""
from __future__ import annotations

import pytest

import mminspect as mi
from mminspect.api.languages import READS_CHINESE, chinese_coverage, is_han, reads_chinese

ZH = "我爱北京天安门。今天天气很好。"       # "I love Beijing's Tiananmen. The weather is fine today."


def _chinese_notes(notes: list[str]) -> list[str]:
    return [n for n in notes if "Chinese" in n]


def test_minilm_says_once_it_cannot_read_chinese_and_names_models_that_can(minilm):
    view = mi.inspect_text(minilm, ZH)
    notes = _chinese_notes(view.notes)
    assert len(notes) == 1, view.notes
    note = notes[0]
    assert "cannot read Chinese" in note
    for name in READS_CHINESE:
        assert f"'{name}'" in note
    # the characters it lists are exactly those shown as "[UNK] x" among the tokens
    unknown = [t.split(" ", 1)[1] for t in view.attention.tokens if t.startswith("[UNK] ")]
    assert unknown, view.attention.tokens       # the premise: MiniLM loses some characters
    assert f"{len(dict.fromkeys(unknown))} of the {len(set(c for c in ZH if is_han(c)))}" in note
    assert all(u in note for u in unknown)


def test_minilm_note_holds_for_chinese_it_has_in_its_vocabulary(minilm):
    """'人' is one of MiniLM's 244 Chinese characters: no [UNK], but still no Chinese."""
    view = mi.inspect_text(minilm, "人")
    assert "[UNK]" not in " ".join(view.attention.tokens)
    notes = _chinese_notes(view.notes)
    assert len(notes) == 1 and "cannot read Chinese" in notes[0] and "became" not in notes[0]


def test_english_text_gets_no_chinese_note(minilm):
    assert _chinese_notes(mi.inspect_text(minilm, "The cat sat on the mat.").notes) == []


def test_attribution_on_minilm_carries_the_note(minilm):
    attr = mi.attribute_text(minilm, "今天天气很好", method="saliency", compare_to="The weather is fine.",
                             faithfulness=False, both_sides=False)
    notes = _chinese_notes(attr.notes)
    assert len(notes) == 1 and "cannot read Chinese" in notes[0]


def test_vocabulary_rule_on_hand_made_vocabularies():
    english = ["the", "cat", "##s", "人", "##人"] + [f"w{i}" for i in range(200)]
    assert chinese_coverage(english) == (1, 2 / 205)
    assert not reads_chinese(english)
    small_chinese = ["[UNK]", "我", "爱", "##爱", "北", "京", "the"]       # a tiny Chinese build
    assert reads_chinese(small_chinese)
    big = [chr(0x4E00 + i) for i in range(1000)] + [f"w{i}" for i in range(40_000)]
    assert chinese_coverage(big)[1] < 0.05 and reads_chinese(big)        # a multilingual one
    assert is_han("\U00020000") and not is_han("。") and not is_han("a")
