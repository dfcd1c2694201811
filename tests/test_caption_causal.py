"""The causal lab on the captioner's cross-attention heads, on the shipped weights, against
computations written here: zero ablation against a copy of the model whose output-projection
columns of those heads are zeroed (no hooks at all), mean ablation against a forward pre-hook
written here, the importance scan against single ablations, the intact held-out figures against
the card's evaluation program, the grammar check on captions written by hand, and bad input."""
import copy
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mminspect import api  # noqa: E402
from mminspect.api import fusion_caption_causal as cc  # noqa: E402
from mminspect.api.fusion_caption import held_out_scene  # noqa: E402
from mminspect.fusion.caption import END, START, caption_ids  # noqa: E402
from mminspect.types import InputError  # noqa: E402

TOL = 1e-5


@pytest.fixture(scope="module")
def adapter():
    return api.load("fusion-caption")


@pytest.fixture(scope="module")
def scene():
    return held_out_scene(3)


def _pixels(adapter, image):
    return adapter.pixels(adapter.image_array(image))


def _p_words(model, pixels, words):
    """P(each word and [END]) teacher-forced, by the model's plain forward."""
    ids = torch.tensor([caption_ids([START, *words])])
    targets = torch.tensor(caption_ids([*words, END]))
    with torch.no_grad():
        probs = model(pixels, ids)[0][0].softmax(-1)
    return probs[torch.arange(len(targets)), targets].numpy()


def _without(model, heads):
    """A copy whose cross-attention output projection ignores `heads` (their input columns 0)."""
    out = copy.deepcopy(model)
    dh = out.cfg.width // out.cfg.heads
    with torch.no_grad():
        for layer, h in heads:
            out.blocks[layer].cross.proj.weight[:, h * dh:(h + 1) * dh] = 0
    return out


def test_zero_ablation_equals_zeroed_projection_columns(adapter, scene):
    heads = [(1, 0), (2, 1)]
    abl = cc.ablate_caption_heads(adapter, scene.image, heads)
    pixels = _pixels(adapter, scene.image)
    assert abl.intact == adapter.model.generate(pixels)[0]
    cut = _without(adapter.model, heads)
    assert abl.ablated == cut.generate(pixels)[0]
    np.testing.assert_allclose(abl.before, _p_words(adapter.model, pixels, abl.intact), atol=TOL)
    np.testing.assert_allclose(abl.after, _p_words(cut, pixels, abl.intact), atol=TOL)
    assert np.abs(abl.after - abl.before).max() > 1e-3          # the heads matter here
    assert abl.steps[-1] == END and abl.grammatical == cc.grammatical(abl.ablated)


def test_mean_ablation_equals_a_hook_written_here(adapter, scene):
    layer, h = 1, 2
    pixels = _pixels(adapter, scene.image)
    abl = cc.ablate_caption_heads(adapter, scene.image, [(layer, h)], mode="mean")
    proj, dh = adapter.model.blocks[layer].cross.proj, adapter.cfg.width // adapter.cfg.heads
    seen = {}
    handle = proj.register_forward_pre_hook(lambda m, args: seen.__setitem__("x", args[0].detach().clone()))
    try:
        _p_words(adapter.model, pixels, abl.intact)
    finally:
        handle.remove()
    mean = seen["x"][0, :, h * dh:(h + 1) * dh].mean(0)              # over the caption's positions

    def replace(module, args):
        x = args[0].clone()
        x[..., h * dh:(h + 1) * dh] = mean
        return (x,)

    handle = proj.register_forward_pre_hook(replace)
    try:
        expected = _p_words(adapter.model, pixels, abl.intact)
        written = adapter.model.generate(pixels)[0]
    finally:
        handle.remove()
    np.testing.assert_allclose(abl.after, expected, atol=TOL)
    assert abl.ablated == written


def test_importance_scan_equals_single_ablations(adapter, scene):
    imp = cc.caption_head_importance(adapter, scene.image)
    assert imp.delta.shape == (adapter.n_layers, adapter.n_heads) and imp.batch_size == imp.delta.size
    words = list(imp.tokens)
    naming = [t for t, w in enumerate(words) if cc.W.role_of(w) is not None]
    assert naming, words
    pixels = _pixels(adapter, scene.image)
    before = _p_words(adapter.model, pixels, words)[naming].mean()
    assert abs(imp.before - before) <= TOL
    for layer in range(adapter.n_layers):
        for h in range(adapter.n_heads):
            after = _p_words(_without(adapter.model, [(layer, h)]), pixels, words)[naming].mean()
            assert abs(imp.delta[layer, h] - (after - before)) <= TOL, (layer, h)


def test_intact_held_out_figures_equal_the_card_program(adapter):
    from mminspect.lab.caption_eval import evaluate
    card = evaluate(adapter.model, 40)
    acc = cc.caption_ablation_accuracy(adapter, [(0, 0)], n=40)
    assert acc.intact["names_every_object"] == pytest.approx(card["names_every_object"])
    assert acc.intact["colours_right"] == pytest.approx(card["colours_right"])
    assert 0 < acc.colour_chance < 1 / 6 + 1e-9


def test_every_head_removed_writes_blind_captions(adapter):
    """With every cross-attention head gone the decoder cannot see: the same caption for every
    scene, and the figures equal those of the zeroed copy's own captions."""
    everything = [(a, b) for a in range(adapter.n_layers) for b in range(adapter.n_heads)]
    acc = cc.caption_ablation_accuracy(adapter, everything, n=30)
    blind = _without(adapter.model, everything)
    from mminspect.fusion.data import world_scenes
    from mminspect.miniclip.model import to_pixels
    scenes = [s for _, s in world_scenes(cc.HELD_OUT_SEED, 30, stream=cc.HELD_OUT_STREAM, n_objects=2)]
    captions = blind.generate(to_pixels(np.stack([s.image for s in scenes])))
    assert len({" ".join(c) for c in captions}) == 1
    assert acc.ablated == cc._figures(captions, scenes)
    assert acc.ablated["names_every_object"] < acc.intact["names_every_object"]


def test_reading_heads_rank_by_their_share_on_the_objects(adapter):
    most = cc.caption_reading_heads(adapter, k=3, n=10)
    least = cc.caption_reading_heads(adapter, k=3, n=10, least=True)
    share = most.share
    assert share.shape == (adapter.n_layers, adapter.n_heads) and ((share >= 0) & (share <= 1)).all()
    assert [share[p] for p in most.ranking] == sorted(share.ravel(), reverse=True)[:3]
    assert [share[p] for p in least.ranking] == sorted(share.ravel())[:3]
    assert not set(most.ranking) & set(least.ranking)


@pytest.mark.parametrize("caption, ok", [
    ("a red star and a cat", True),
    ("a cat below a red star", True),
    ("a red star at the top and a cat in the bottom left corner", True),
    ("a red star , a cat and a dog", True),
    ("a light bulb", True),
    ("a red and a cat", False),            # a colour without its shape
    ("a star and a cat", False),           # a shape without its colour
    ("a red star and", False),
    ("cat a", False),
    ("a red star above", False),
])
def test_grammar_of_written_captions(caption, ok):
    from mminspect.fusion.words import tokenize
    assert cc.grammatical(tokenize(caption)) is ok


@pytest.mark.parametrize("call, message", [
    (lambda a, s: cc.ablate_caption_heads(a, s.image, [(3, 0)]), "layers 0..2"),
    (lambda a, s: cc.ablate_caption_heads(a, s.image, [(0, 0)], mode="scramble"), "Unknown ablation mode"),
    (lambda a, s: cc.caption_ablation_accuracy(a, [(0, 0)], n=0), "held-out scenes"),
    (lambda a, s: cc.caption_reading_heads(a, k=13), "between 1 and 12"),
    (lambda a, s: cc.ablate_caption_heads("fusion", s.image, [(0, 0)]), "fusion-caption"),
])
def test_bad_input_gets_a_clear_message(adapter, scene, call, message):
    with pytest.raises(InputError, match=message):
        call(adapter, scene)
