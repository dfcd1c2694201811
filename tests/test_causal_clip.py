"""Causal lab for CLIP-style image towers: removing heads equals a copy of the
model whose output-projection weights for those heads are zeroed (for open_clip the copy runs
the library's own fused attention, not our recomputation); hooks leave nothing."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image

import mminspect as mi
from mminspect.api.causal_clip import image_head_sites

from clip_tiny import tiny_clip_of

PROMPTS = ["a photo of a cat", "a photo of a dog", "a red square"]


@pytest.fixture(scope="module", params=["hf_clip", "open_clip", "miniclip", "hf_siglip",
                                        "open_clip_siglip"])
def clip(request, tmp_path_factory):
    return tiny_clip_of(request.param, tmp_path_factory)


def _check_link(clip, got) -> None:
    """CLIP's probabilities are a softmax over the prompts; SigLIP's a sigmoid of each logit."""
    if clip.link == "softmax":
        np.testing.assert_allclose(got.probs_after.sum(), 1, atol=1e-5)
    else:
        np.testing.assert_allclose(got.probs_after, 1 / (1 + np.exp(-got.logits_after.astype(float))),
                                   atol=1e-6)
        np.testing.assert_allclose(got.probs_before, 1 / (1 + np.exp(-got.logits_before.astype(float))),
                                   atol=1e-6)


def _image(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))


@torch.no_grad()
def _zeroed_logits(adapter, heads) -> np.ndarray:
    outs, n_heads = image_head_sites(adapter)
    edited = copy.copy(adapter)
    edited.model = copy.deepcopy(adapter.model)
    e_outs, _ = image_head_sites(edited)
    for layer, head in heads:
        d_head = e_outs[layer].weight.shape[1] // n_heads
        e_outs[layer].weight[:, head * d_head:(head + 1) * d_head] = 0    # nn.Linear [out, in]
    pixels = edited.preprocess([_image()])
    return edited.similarity(pixels, PROMPTS)[0].cpu().numpy()            # [prompt]


def test_image_head_ablation_equals_weight_edit(clip):
    heads = [(0, 1), (1, 0)]
    got = mi.ablate_heads(clip, image=_image(), prompts=PROMPTS, heads=heads)
    np.testing.assert_allclose(got.logits_after, _zeroed_logits(clip, heads), atol=1e-5)
    # the comparison can fail: another head's weight edit gives other logits
    assert np.abs(got.logits_after - _zeroed_logits(clip, [(0, 2), (1, 0)])).max() > 1e-4
    assert got.logits_before.shape == (3,) and np.abs(got.delta_logit).max() > 0
    _check_link(clip, got)
    pixels = clip.preprocess([_image()])
    np.testing.assert_allclose(got.logits_before, clip.similarity(pixels, PROMPTS)[0].cpu().numpy(),
                               atol=1e-5)


@torch.no_grad()
def test_image_mean_ablation_equals_a_bias_edited_copy(clip):
    """A constant context m contributes W[:, head] @ m to the projection: zero the columns,
    add that to the bias, and run the copy by the library's own code (open_clip: its fused
    attention). The mean over the image's tokens is read by a hook of the test's own."""
    heads = [(0, 1), (1, 2)]
    got = mi.ablate_heads(clip, image=_image(), prompts=PROMPTS, heads=heads, mode="mean")
    pixels = clip.preprocess([_image()])
    outs, n_heads = image_head_sites(clip)
    seen = {}
    handles = [o.register_forward_pre_hook(lambda m, a, i=i: seen.__setitem__(i, a[0].clone()))
               for i, o in enumerate(outs)]
    try:
        clip.image_forward(pixels)             # open_clip: its attention capture calls out_proj
    finally:
        for h in handles:
            h.remove()
    edited = copy.copy(clip)
    edited.model = copy.deepcopy(clip.model)
    e_outs, _ = image_head_sites(edited)
    for layer, head in heads:
        w = e_outs[layer].weight                                      # [out, head * d_head]
        d = w.shape[1] // n_heads
        mean = seen[layer][0, :, head * d:(head + 1) * d].mean(0)     # [d_head] over image tokens
        e_outs[layer].bias += w[:, head * d:(head + 1) * d] @ mean
        w[:, head * d:(head + 1) * d] = 0
    expected = edited.similarity(pixels, PROMPTS)[0].cpu().numpy()    # [prompt]
    np.testing.assert_allclose(got.logits_after, expected, atol=1e-5)
    zero = mi.ablate_heads(clip, image=_image(), prompts=PROMPTS, heads=heads)
    assert np.abs(zero.logits_after - got.logits_after).max() > 1e-4  # the means were used


def test_image_mean_ablation_runs_and_hooks_are_removed(clip):
    pixels = clip.preprocess([_image()])
    before = clip.similarity(pixels, PROMPTS).clone()
    got = mi.ablate_heads(clip, image=_image(), prompts=PROMPTS, heads=[(0, 0)], mode="mean")
    assert got.mean_over == "the image's tokens"
    assert torch.equal(clip.similarity(pixels, PROMPTS), before)


def test_clip_ablation_errors(clip):
    with pytest.raises(mi.InputError, match="image=... and"):
        mi.ablate_heads(clip, heads=[(0, 0)])
    with pytest.raises(mi.InputError, match="'image' or 'text'"):
        mi.ablate_heads(clip, image=_image(), prompts=PROMPTS, heads=[(0, 0)], tower="audio")
    with pytest.raises(mi.InputError, match="layers 0.."):
        mi.ablate_heads(clip, image=_image(), prompts=PROMPTS, heads=[(99, 0)])


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_image_head_importance_equals_one_at_a_time(clip, mode):
    imp = mi.head_importance(clip, image=_image(), prompts=PROMPTS, prompt="a photo of a dog",
                             mode=mode)
    outs, n_heads = image_head_sites(clip)
    assert imp.delta.shape == (len(outs), n_heads) and "a photo of a dog" in imp.target
    for layer in range(len(outs)):
        for head in range(n_heads):
            one = mi.ablate_heads(clip, image=_image(), prompts=PROMPTS, heads=[(layer, head)],
                                  mode=mode)
            assert imp.before == pytest.approx(float(one.probs_before[1]), abs=1e-6)
            assert imp.delta[layer, head] == pytest.approx(float(one.delta_prob[1]), abs=1e-5)
    assert np.abs(imp.delta).max() > 0


def test_image_head_importance_picks_the_best_prompt_and_checks_the_prompt(clip):
    imp = mi.head_importance(clip, image=_image(), prompts=PROMPTS)
    best = mi.ablate_heads(clip, image=_image(), prompts=PROMPTS, heads=[(0, 0)])
    assert PROMPTS[int(best.probs_before.argmax())] in imp.target
    # a prompt as typed before the template is found too
    imp = mi.head_importance(clip, image=_image(), prompts=["cat", "dog"], prompt="dog",
                             template="a photo of a {}")
    assert "a photo of a dog" in imp.target
    with pytest.raises(mi.InputError, match="not among the prompts"):
        mi.head_importance(clip, image=_image(), prompts=PROMPTS, prompt="a zebra")
    with pytest.raises(mi.InputError, match="image=... and"):
        mi.head_importance(clip, "some text")


def _patch_setup(clip):
    from mminspect.api import causal_clip as cc
    outs, n_heads, blocks = image_head_sites(clip, blocks=True)
    text = clip.encode_text(PROMPTS)
    clean, corrupted = clip.preprocess([_image(0)]), clip.preprocess([_image(1)])
    with torch.no_grad(), cc.heads_visible(clip, "image"):   # open_clip: heads reach out_proj
        with cc.capture_head_inputs(outs, n_heads) as heads, cc.capture_residual(blocks) as resid:
            clean_logits = clip.logits_of(clip.encode_image(clean) @ text.T)
    return cc, outs, n_heads, blocks, text, corrupted, clean_logits, dict(heads), dict(resid)


@torch.no_grad()
def test_image_patching_endpoints_everything_restores_all_nothing_restores_none(clip):
    cc, outs, n_heads, blocks, text, corrupted, clean_logits, heads, resid = _patch_setup(clip)
    corrupted_logits = clip.logits_of(clip.encode_image(corrupted) @ text.T)
    last = len(blocks) - 1
    n_tok = resid[last].shape[1]
    args = (clip, outs, n_heads, blocks, corrupted, text)
    every_token = {last: torch.ones(1, n_tok, dtype=torch.bool)}
    got = cc.patched_image_logits(*args, "residual", every_token, resid)
    torch.testing.assert_close(got, clean_logits, atol=1e-5, rtol=1e-5)
    no_token = {last: torch.zeros(1, n_tok, dtype=torch.bool)}
    got = cc.patched_image_logits(*args, "residual", no_token, resid)
    torch.testing.assert_close(got, corrupted_logits, atol=1e-5, rtol=1e-5)
    every_head = {layer: torch.ones(1, n_heads, dtype=torch.bool) for layer in range(len(outs))}
    got = cc.patched_image_logits(*args, "heads", every_head, heads)
    if clip.link == "softmax":
        # the [CLS] row's residual is its (image-independent) embedding plus heads and MLPs
        # of its own row: every clean head makes it clean
        torch.testing.assert_close(got, clean_logits, atol=1e-5, rtol=1e-5)
    else:
        # SigLIP pools every patch, whose residual keeps the corrupted patch embedding
        assert (got - clean_logits).abs().max() > 1e-3


@pytest.mark.parametrize("site", ["residual", "heads"])
def test_image_patching_sweep_equals_one_patch_at_a_time(clip, site):
    pat = mi.patch_activations(clip, _image(0), _image(1), site=site, prompts=PROMPTS,
                               prompt="a photo of a dog")
    cc, outs, n_heads, blocks, text, corrupted, clean_logits, heads, resid = _patch_setup(clip)
    source = resid if site == "residual" else heads
    width = resid[0].shape[1] if site == "residual" else n_heads
    assert pat.restored.shape == (len(blocks), width) and "a photo of a dog" in pat.target
    assert pat.clean_value == pytest.approx(float(clean_logits[0, 1]), abs=1e-5)
    gap = pat.clean_value - pat.corrupted_value
    for layer, cell in [(0, 0), (len(blocks) - 1, width - 1), (1, 1)]:
        select = torch.zeros(1, width, dtype=torch.bool)
        select[0, cell] = True
        with torch.no_grad():
            one = cc.patched_image_logits(clip, outs, n_heads, blocks, corrupted, text, site,
                                          {layer: select}, source)[0, 1]
        assert pat.restored[layer, cell] == pytest.approx((float(one) - pat.corrupted_value) / gap,
                                                          abs=1e-4)
    if site == "residual":
        assert len(pat.tokens) == width and pat.tokens[0] in ("[CLS]", "t0", "r0c0")  # SigLIP: patches


def test_image_patching_errors(clip):
    with pytest.raises(mi.InputError, match="no gap"):
        mi.patch_activations(clip, _image(0), _image(0), prompts=PROMPTS)
    with pytest.raises(mi.InputError, match="two images"):
        mi.patch_activations(clip, _image(0), _image(1))
    with pytest.raises(mi.InputError, match="Unknown patching site"):
        mi.patch_activations(clip, _image(0), _image(1), prompts=PROMPTS, site="mlp")
