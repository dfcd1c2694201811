"""The fusion model's code, its words and the functions that read its joint attention, on a
tiny random build (no shipped weights needed): the four blocks put back together are the
full attention; a word's patch map and a patch's readers equal a recomputation from the q and
k that a hook captured; the pointing game scores a map against a mask; captions are true of
their scenes and a changed word makes them false."""
import math

import numpy as np
import pytest
import torch

from mminspect.api.fusion import fusion_example, fusion_pointing, inspect_fusion, list_fusion_examples
from mminspect.capture.activations import record_outputs
from mminspect.explain.fusion import (block_shares, patch_readers, split_blocks, word_patch_map,
                                      word_pointing)
from mminspect.fusion import words as W
from mminspect.fusion.model import FusionConfig, FusionModel
from mminspect.miniclip.vit import ViTConfig
from mminspect.miniclip.world import render_world
from mminspect.models.fusion_adapter import FusionAdapter
from mminspect.types import InputError
from mminspect.types.fusion import FusionView

CAPTION = "a [MASK] star left of a light bulb"


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    tower = ViTConfig(stem_channels=(8, 16, 32), width=32, depth=1, heads=2, embed_dim=32)
    cfg = FusionConfig(vit=tower.to_dict(), vocab_size=len(W.vocabulary()), width=32, depth=2, heads=2)
    return FusionAdapter.from_model(FusionModel(cfg).eval(), name="tiny-fusion")


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def view(tiny, image):
    return inspect_fusion(tiny, image, CAPTION)


def test_the_view_holds_text_then_patches_and_rows_sum_to_one(view):
    assert view.tokens == ["[CLS]", "a", "[MASK]", "star", "left", "of", "a", "light bulb"]
    assert view.attention.shape == (2, 2, 8 + 64, 8 + 64)
    np.testing.assert_allclose(view.attention.sum(-1), 1.0, atol=1e-5)
    assert 0 <= view.match <= 1 and len(view.fills) == 1 and view.fills[0].position == 2
    assert np.all(np.diff(view.fills[0].probs) <= 0)          # best first


def test_the_four_blocks_put_back_together_are_the_full_attention(view):
    for layer in range(view.n_layers):
        b = split_blocks(view, layer)
        assert b.text_image.shape == (2, 8, 64) and b.image_text.shape == (2, 64, 8)
        np.testing.assert_array_equal(b.joined(), view.attention[layer])
        assert b.share.sum() == pytest.approx(1.0, abs=1e-6)
    shares = block_shares(view)
    assert shares.shape == (2, 4)
    # rows sum to one: text rows carry 8 of the 72 rows' mass, image rows 64
    np.testing.assert_allclose(shares[:, :2].sum(1), 8 / 72, atol=1e-5)


def test_a_words_patch_map_equals_softmax_of_captured_q_and_k(tiny, image):
    """q and k taken by a forward hook on each layer's qkv projection; the word's row of
    softmax(q k^T / sqrt(d_head)), restricted to the patches, is its map."""
    seen, tokens, pixels, ids = tiny.inputs(image, CAPTION)
    with record_outputs([m.qkv for m in tiny.attention_modules()]) as qkv:
        tiny.forward(pixels, ids)
    view = inspect_fusion(tiny, image, CAPTION)
    d, h = tiny.cfg.width, tiny.cfg.heads
    t = len(tokens)
    for layer in range(tiny.n_layers):
        x = qkv[layer][0].view(-1, 3, h, d // h)                            # [token, 3, head, dh]
        q, k = x[:, 0].transpose(0, 1), x[:, 1].transpose(0, 1)             # [head, token, dh]
        probs = (q @ k.transpose(-1, -2) / math.sqrt(d // h)).softmax(-1)  # [head, query, key]
        star = tokens.index("star")
        by_hand = probs[:, star, t:].reshape(h, 8, 8).numpy()
        m = word_patch_map(view, "star", layer)
        np.testing.assert_allclose(m.per_head, by_hand, atol=1e-5)
        np.testing.assert_allclose(m.mean, by_hand.mean(0), atol=1e-5)
        np.testing.assert_allclose(m.text_share, probs[:, star, :t].sum(-1).numpy(), atol=1e-5)
        readers = patch_readers(view, 2, 5, layer)
        np.testing.assert_allclose(readers.per_head, probs[:, :t, t + 2 * 8 + 5].numpy(), atol=1e-5)


def _view_with(word_row: np.ndarray) -> FusionView:
    """A one-layer, one-head view whose token 1 attends to the patches as `word_row` says."""
    t, p = 2, 64
    a = np.full((1, 1, t + p, t + p), 1 / (t + p), np.float32)
    a[0, 0, 1] = np.concatenate([[0.0, 0.0], word_row / word_row.sum()])
    return FusionView(model="made", caption="a star", tokens=["[CLS]", "star"], attention=a,
                      rows=8, cols=8, patch_size=8, image=np.zeros((64, 64, 3), np.uint8),
                      match=0.5, fills=[])


def test_pointing_and_energy_score_the_map_against_the_mask():
    row = np.full(64, 0.01)
    row[3 * 8 + 4] = 1.0                                            # peak on patch (3, 4)
    view = _view_with(row)
    on, off = np.zeros((64, 64), bool), np.zeros((64, 64), bool)
    on[24:32, 32:40] = True                                         # exactly patch (3, 4)
    off[0:8, 0:8] = True
    p = word_pointing(view, [(1, "a star", on), (1, "elsewhere", off)])
    assert list(p.hit) == [True, False]
    assert p.energy[0] == pytest.approx(1.0 / row.sum(), rel=1e-5)
    assert p.chance[0] == pytest.approx(1 / 64)


def test_bad_requests_are_refused_with_the_fix(view, tiny, image):
    with pytest.raises(InputError, match="layers 0-1"):
        split_blocks(view, 5)
    with pytest.raises(InputError, match="not in the caption"):
        word_patch_map(view, "cat", 0)
    with pytest.raises(InputError, match="outside the 8x8 grid"):
        patch_readers(view, 8, 0, 0)
    with pytest.raises(InputError, match="Write a caption"):
        inspect_fusion(tiny, image, "   ")
    with pytest.raises(InputError, match="at most"):
        inspect_fusion(tiny, image, "a red star " * 10)


def test_the_tokenizer_keeps_two_word_names_whole_and_marks_unknown_words(tiny):
    assert W.tokenize("A [mask] star, a Light Bulb") == ["a", "[MASK]", "star", ",", "a", "light bulb"]
    tokens = tiny.tokenize("a zebra")
    assert tiny.unknown_words(tokens) == ["zebra"]
    assert W.ids_of(["zebra"]) == [W.vocabulary().index(W.UNK)]


def test_captions_are_true_of_their_scene_and_a_changed_word_makes_them_false():
    for i in range(30):
        rng = np.random.default_rng([9, i])
        s = render_world(rng, 64, n_objects=1 + i % 3)
        c = W.caption(s.things, rng)
        assert W.tokenize(c.text) == list(c.tokens)
        named = {c.objects[p] for p in W.content_positions(c)}
        assert named == set(range(len(s.things)))                   # every object is named
        for p in W.content_positions(c):
            t = s.things[c.objects[p]]
            assert c.tokens[p] == {"colour": t.colour, "shape": t.name, "thing": t.name}[c.roles[p]]
        wrong = W.wrong_word(c, s.things, rng)
        changed = [p for p, (a, b) in enumerate(zip(c.tokens, wrong.tokens)) if a != b and W.role_of(a)]
        assert len(changed) == 1
        p = changed[0]
        t = s.things[c.objects[p]]
        pair = ((wrong.tokens[p], t.name) if c.roles[p] == "colour" else
                (t.colour, wrong.tokens[p]))
        assert pair not in {(o.colour, o.name) for o in s.things}


def test_the_examples_carry_masks_that_the_pointing_table_uses(tiny):
    titles = list_fusion_examples()
    assert len(titles) == 4
    ex = fusion_example(titles[0])
    view = inspect_fusion(tiny, ex.image, ex.caption)
    table = fusion_pointing(view, ex.masks)
    assert len(table.words) == len(ex.masks) * tiny.n_layers
    assert set(table.objects) == set(ex.masks)


def test_the_evaluations_batched_pointing_equals_the_library_one_scene_at_a_time(tiny):
    """fusion_eval scores 2-object scenes in one padded batch; the library scores one view.
    Both must read the same patches (a shorter caption's patches come after the padding)."""
    from mminspect.lab.fusion_eval import EVAL_SEED, pointing
    from mminspect.fusion.data import world_scenes
    batched = pointing(tiny.model, 6)
    hits = [[] for _ in range(tiny.n_layers)]
    for rng, s in world_scenes(EVAL_SEED, 6, stream=4, n_objects=2):
        c = W.caption(s.things, rng)
        view = inspect_fusion(tiny, s.image, c.text)
        named = [(p + 1, s.things[c.objects[p]].name, s.masks[c.objects[p]])
                 for p in W.content_positions(c, "shape") + W.content_positions(c, "thing")]
        table = word_pointing(view, named)
        for layer in range(tiny.n_layers):
            hits[layer] += list(table.hit[table.layers == layer])
    assert batched["pointing_words"] == len(hits[0]) == 12
    np.testing.assert_allclose(batched["pointing_by_layer"], [np.mean(h) for h in hits])
