"""Sub-word pieces -> words: word scores sum the tokens they cover, spans slice the text."""
from __future__ import annotations

import numpy as np
import pytest

import mminspect as mi
from mminspect.explain.attribution import align_words, word_scores


def test_wordpiece_tokens_merge_into_the_words_of_the_text(minilm):
    text = "Unbelievably, the  antidisestablishment crowd didn't care!"
    enc = minilm.encode(text)
    assert len(enc.tokens) > len(text.split()) + 2          # really split into pieces
    words, offsets, token_word = align_words(text, enc.offsets, enc.special)
    assert words == ["Unbelievably", ",", "the", "antidisestablishment", "crowd", "didn't",
                     "care", "!"]
    assert [text[a:b] for a, b in offsets] == words          # spans slice the original text
    assert (token_word[enc.special] == -1).all() and (token_word[~enc.special] >= 0).all()
    # Every token's own span lies inside its word's span.
    for (a, b), w in zip(enc.offsets, token_word):
        if w >= 0:
            assert offsets[w, 0] <= a and b <= offsets[w, 1]


def test_word_scores_sum_the_token_scores_they_cover():
    scores = np.array([9.0, 0.5, -0.25, 2.0, 1.0, 9.0])      # [CLS] un ##believ ##able ! [SEP]
    token_word = np.array([-1, 0, 0, 0, 1, -1])
    np.testing.assert_allclose(word_scores(scores, token_word, 2), [2.25, 1.0])


def test_bpe_offsets_with_leading_spaces_go_to_the_word_they_start():
    # GPT-2 style: " cat" and " sat" offsets include the space before the word.
    text = "The cat sat."
    offsets = np.array([[0, 3], [3, 7], [7, 11], [11, 12]])
    words, spans, token_word = align_words(text, offsets, np.zeros(4, bool))
    assert words == ["The", "cat", "sat", "."] and token_word.tolist() == [0, 1, 2, 3]


def test_attribution_word_view_adds_up_to_the_token_view(minilm):
    attr = mi.attribute_text(minilm, "Skateboarding grandmothers are unstoppable.",
                             method="feature_ablation", compare_to="Old people do sports.",
                             both_sides=False, faithfulness=False)
    assert "Skateboarding" in attr.words and "unstoppable" in attr.words
    for w, word in enumerate(attr.words):
        covered = attr.token_word == w
        assert covered.sum() >= 1
        assert attr.word_scores[w] == pytest.approx(attr.scores[covered].sum(), abs=1e-6)
        a, b = attr.word_offsets[w]
        assert attr.text[a:b] == word
    assert attr.word_scores.sum() == pytest.approx(attr.scores[~attr.special].sum(), abs=1e-5)
    labels, scores, special = attr.view("word")
    assert labels == attr.words and not special.any()
    labels, scores, special = attr.view("token")
    assert labels == attr.tokens and special[0] and special[-1]


def test_truncated_text_keeps_only_the_words_that_were_attributed(minilm):
    text = " ".join(["cat"] * 600) + " zebra"
    attr = mi.attribute_text(minilm, text, method="saliency", compare_to="cats",
                             both_sides=False, faithfulness=False)
    assert len(attr.words) == minilm.max_tokens - 2 and "zebra" not in attr.words
    assert any("cut to" in n for n in attr.notes)


def test_chinese_runs_are_cut_where_the_tokenizer_cut_them():
    """A Chinese clause has no spaces: its words are the model's own pieces (a character for
    BERT-Chinese, 北京 / 天安门 for a SentencePiece vocabulary), never the whole clause;
    the words still slice the text exactly and English beside it is unchanged."""
    from mminspect.explain.attribution.words import align_words
    text = "我爱北京天安门, it's fine"
    per_char = np.array([[0, 0]] + [[i, i + 1] for i in range(7)]
                        + [[7, 8], [9, 11], [11, 13], [14, 18], [0, 0]])
    special = np.array([True] + [False] * 11 + [True])
    words, offs, token_word = align_words(text, per_char, special)
    assert words == ["我", "爱", "北", "京", "天", "安", "门", ",", "it's", "fine"]
    assert [text[a:b] for a, b in offs] == words
    assert token_word.tolist() == [-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9, -1]
    pieces = np.array([[0, 1], [1, 2], [2, 4], [4, 7], [7, 8]])
    words, _, token_word = align_words(text, pieces, np.zeros(5, bool))
    assert words == ["我", "爱", "北京", "天安门", ","] and token_word.tolist() == [0, 1, 2, 3, 4]
