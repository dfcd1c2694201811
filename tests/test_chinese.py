"""Chinese text: the English-only MiniLM says it cannot read it (one note, naming models that
can), and the listed models that read Chinese work on tiny random builds whose small
vocabularies hold Chinese characters (tests/chinese_tiny.py)."""
from __future__ import annotations

import numpy as np
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


# --- the listed models that read Chinese, each opened through its own registry entry with
# the source pointed at a tiny random build of the same kind (no download here)

@pytest.fixture(scope="module")
def chinese_models(tmp_path_factory):
    """{registry name: adapter} loaded through the registry entries (family, options) with
    each source replaced by a tiny local build; the entries and the cache restored after."""
    from chinese_tiny import build_tiny_bert_chinese, build_tiny_multilingual
    from mminspect.models import registry
    builds = {"bert-base-chinese": build_tiny_bert_chinese,
              "multilingual-minilm": build_tiny_multilingual}
    saved = {name: registry.REGISTRY[name] for name in builds}
    try:
        for name, build in builds.items():
            folder = build(tmp_path_factory.mktemp(name))
            registry.REGISTRY[name] = {**saved[name], "source": str(folder)}
        yield {name: registry.load(name) for name in builds}
    finally:
        registry.REGISTRY.update(saved)
        for name in builds:
            registry._CACHE.pop(name, None)


def test_the_note_names_models_that_are_in_the_list():
    from mminspect.models import registry
    rows = {r["name"]: r for r in mi.list_models()}
    for name in READS_CHINESE:
        assert rows[name]["family"] == "hf_text" and not rows[name]["bundled"]
        assert "downloads on first use" in rows[name]["label"]
    assert registry.REGISTRY["bert-base-chinese"]["source"] == "google-bert/bert-base-chinese"
    assert (registry.REGISTRY["multilingual-minilm"]["source"]
            == "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2")


def test_bert_chinese_reads_one_token_per_character(chinese_models):
    model = chinese_models["bert-base-chinese"]
    assert model.kind == "masked_lm"
    text = "我爱北京天安门。the cat"
    view = mi.inspect_text(model, text)
    tokens = view.attention.tokens
    assert tokens == ["[CLS]", *"我爱北京天安门。", "the", "cat", "[SEP]"]
    for tok, (a, b) in zip(tokens[1:9], view.offsets[1:9]):
        assert text[a:b] == tok and b - a == 1
    n = len(tokens)
    assert view.attention.weights.shape == (2, 2, n, n)                 # [layer, head, query, key]
    assert view.attention.weights.sum(-1) == pytest.approx(1, abs=1e-5)
    assert _chinese_notes(view.notes) == []                             # it reads Chinese


def test_bert_chinese_fills_a_mask_and_attributes_the_filler(chinese_models):
    model = chinese_models["bert-base-chinese"]
    view = mi.inspect_text(model, "我爱北[MASK]天安门", logit_lens=True)
    assert len(view.prediction.fills) == 1
    assert view.lens is not None                             # the layer-by-layer view too
    fill = view.prediction.fills[0]
    assert fill.position == 4 and fill.probs[0] >= fill.probs[-1] > 0
    attr = mi.attribute_text(model, "我爱北[MASK]天安门", method="integrated_gradients",
                             target="mask_fill", faithfulness=False)
    assert attr.tokens[1:4] == ["我", "爱", "北"] and attr.scores.shape == (len(attr.tokens),)
    assert np.isfinite(attr.scores).all() and np.abs(attr.scores).sum() > 0
    assert fill.tokens[0] in attr.target


def test_multilingual_minilm_pieces_show_without_their_space_mark(chinese_models):
    model = chinese_models["multilingual-minilm"]
    assert model.kind == "embedding"
    text = "我爱北京天安门。the cat"
    view = mi.inspect_text(model, text, compare_to="今天天气很好", labels=["猫", "北京"])
    tokens = view.attention.tokens
    assert not any("▁" in t for t in tokens)
    assert "北京" in tokens and "天安门" in tokens                    # SentencePiece keeps words
    for tok, (a, b), special in zip(tokens, view.offsets, view.attention.special):
        if not special:
            assert tok.strip() == text[a:b]
    n = len(tokens)
    assert view.attention.weights.shape == (2, 2, n, n)
    assert -1 <= view.prediction.similarity <= 1
    assert view.prediction.label_probs.sum() == pytest.approx(1, abs=1e-5)
    assert _chinese_notes(view.notes) == []


def test_multilingual_minilm_attributes_a_chinese_similarity(chinese_models):
    model = chinese_models["multilingual-minilm"]
    attr = mi.attribute_text(model, "我爱北京", method="integrated_gradients",
                             compare_to="今天天气很好", faithfulness=True, both_sides=True)
    assert attr.scores.shape == (len(attr.tokens),) and np.isfinite(attr.scores).all()
    assert attr.other is not None and attr.other.tokens[1:3] == [" 今天", "天气"]
    assert attr.faithfulness is not None
    assert _chinese_notes(attr.notes) == []


# --- Chinese-CLIP: a CLIP-style family of its own (every family-wide test, the contract
# tests first, runs on it through tests/clip_tiny.py CLIP_FAMILIES); here, what the app
# shows of it

@pytest.fixture(scope="module")
def chinese_clip(tmp_path_factory):
    from chinese_tiny import build_tiny_chinese_clip
    return mi.load(str(build_tiny_chinese_clip(tmp_path_factory.mktemp("chinese_clip"))))


def test_chinese_clip_is_listed_as_an_image_text_model():
    from mminspect.models import registry
    row = {r["name"]: r for r in mi.list_models()}["chinese-clip-vit-base-patch16"]
    assert row["family"] == "hf_chinese_clip" and row["modality"] == "image"
    assert "downloads on first use" in row["label"]
    assert registry.CONFIG_FAMILIES["chinese_clip"] == "hf_chinese_clip"


def test_chinese_clip_reads_chinese_prompts_one_character_a_token(chinese_clip):
    image = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    view = mi.inspect_clip(chinese_clip, image, ["一个猫", "一个狗在北京"])
    assert view.probs.shape == (1, 2) and view.probs.sum() == pytest.approx(1, abs=1e-5)
    text = view.texts[1]
    assert text.tokens == ["[CLS]", *"一个狗在北京", "[SEP]"]
    assert text.pooled == 0                                 # the embedding is read at [CLS]
    n = len(text.tokens)
    assert text.attention.shape == (2, 4, n, n)
    # bidirectional: the first token attends to later ones (CLIP's causal tower would not)
    assert text.attention[:, :, 0, 1:].sum() > 0
    assert not [n for n in view.notes if "[UNK]" in n]      # every character is known
    # the maps' picture is what the model saw: the centre square, not the squashed image
    assert "centre crop" in " ".join(view.notes)
    from PIL import Image
    square = Image.fromarray(image[:, 8:48])                # 40 x 40, the centre of 56 x 40
    torch_px = chinese_clip.preprocess([square])
    np.testing.assert_allclose(chinese_clip.preprocess([image]).numpy(), torch_px.numpy(),
                               atol=1e-5)


def test_chinese_clip_text_embedding_is_the_projected_cls_state(chinese_clip):
    import torch
    enc = chinese_clip.tokenize("一个猫")
    out = chinese_clip.text_forward(enc)
    with torch.no_grad():
        hidden = chinese_clip.model.text_model(**enc.inputs).last_hidden_state   # [1, token, d]
        expected = chinese_clip.model.text_projection(hidden[0, 0])
    torch.testing.assert_close(out.embedding, expected)
