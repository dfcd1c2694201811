"""Causal lab for CLIP-style TEXT towers, on tiny HF CLIP, tiny open_clip and
mini-CLIP (whose text tower is the bundled MiniLM).

Independent recomputations, none of which uses the api's hooks:
- zero ablation == a copy of the model whose output-projection weight columns for those
  heads are zeroed, run by the library's own code (for open_clip: torch's fused attention);
- mean ablation == per prompt, a copy whose columns are zeroed and whose bias gains
  W[:, head] @ mean (a constant context contributes exactly that), the mean read by a hook
  of the test's own on that prompt run alone and unpadded;
- the scan == one `ablate_heads` per head; the model is unchanged after (weights, outputs)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image

import mminspect as mi
from mminspect.api.causal_towers import tower_sites
from mminspect.capture.open_clip_attention import is_patched

from clip_tiny import tiny_clip_of

PROMPTS = ["a photo of a cat", "a dog", "a red square on the left"]   # different lengths


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


def _copy(adapter):
    """A shallow copy of the adapter whose text tower's weights are a private deep copy."""
    edited = copy.copy(adapter)
    if adapter.family == "miniclip":            # the text tower is the shared MiniLM adapter
        edited.text = copy.copy(adapter.text)
        edited.text.model = copy.deepcopy(adapter.text.model)
    else:
        edited.model = copy.deepcopy(adapter.model)
        if adapter.family in ("open_clip", "open_clip_siglip"):   # `text`: the model or its .text
            edited.text = edited.model if adapter.text is adapter.model else edited.model.text
    return edited


@torch.no_grad()
def _edited_logits(adapter, heads, prompts=PROMPTS, means=None) -> np.ndarray:
    """Logits [prompt] from a weight-edited copy: W[:, head] = 0 (and bias += W[:, head] @
    means[(layer, head)] when given), by the library's own forward."""
    edited = _copy(adapter)
    outs, n_heads = tower_sites(edited, "text")
    for layer, head in heads:
        w = outs[layer].weight                                         # nn.Linear [out, in]
        d = w.shape[1] // n_heads
        if means is not None:
            outs[layer].bias += w[:, head * d:(head + 1) * d] @ means[(layer, head)]
        w[:, head * d:(head + 1) * d] = 0
    pixels = edited.preprocess([_image()])
    return edited.similarity(pixels, prompts)[0].cpu().numpy()         # [prompt]


@torch.no_grad()
def _own_means(adapter, prompt, heads) -> dict:
    """{(layer, head): [d_head]}: that head's context averaged over the prompt's tokens, run
    alone and unpadded (text_forward), read by a pre-hook of this test's own."""
    outs, n_heads = tower_sites(adapter, "text")
    seen = {}
    handles = [o.register_forward_pre_hook(lambda m, a, i=i: seen.__setitem__(i, a[0].clone()))
               for i, o in enumerate(outs)]
    try:
        adapter.text_forward(adapter.tokenize(prompt))      # open_clip: under its attention capture
    finally:
        for h in handles:
            h.remove()
    out = {}
    for layer, head in heads:
        x = seen[layer][0]                                             # [token, head * d_head]
        d = x.shape[-1] // n_heads
        out[(layer, head)] = x[:, head * d:(head + 1) * d].mean(0)     # [d_head]
    return out


def test_text_zero_ablation_equals_a_weight_edited_copy(clip):
    heads = [(0, 1), (1, 0), (1, 3)]
    got = mi.ablate_heads(clip, image=_image(), prompts=PROMPTS, tower="text", heads=heads)
    assert got.tower == "text" and got.heads == tuple(heads) and got.mean_over == ""
    pixels = clip.preprocess([_image()])
    np.testing.assert_allclose(got.logits_before, clip.similarity(pixels, PROMPTS)[0].cpu().numpy(),
                               atol=1e-5)
    np.testing.assert_allclose(got.logits_after, _edited_logits(clip, heads), atol=1e-5)
    _check_link(clip, got)
    assert np.abs(got.delta_logit).max() > 1e-4                        # the heads did something
    # the comparison can fail: another head's weight edit gives other logits
    assert np.abs(got.logits_after - _edited_logits(clip, [(0, 2), (1, 0), (1, 3)])).max() > 1e-4


def test_text_mean_ablation_equals_a_bias_edited_copy_per_prompt(clip):
    heads = [(0, 2), (1, 1)]
    got = mi.ablate_heads(clip, image=_image(), prompts=PROMPTS, tower="text", heads=heads,
                          mode="mean")
    assert got.mean_over == "each prompt's own tokens"
    for p, prompt in enumerate(PROMPTS):
        own = _edited_logits(clip, heads, means=_own_means(clip, prompt, heads))
        assert got.logits_after[p] == pytest.approx(float(own[p]), abs=1e-5), prompt
    # not the same as zero ablation (so the means were used)
    zero = mi.ablate_heads(clip, image=_image(), prompts=PROMPTS, tower="text", heads=heads)
    assert np.abs(zero.logits_after - got.logits_after).max() > 1e-4


def _heads_to_check(n_layers: int, n_heads: int) -> list[tuple[int, int]]:
    """Every head of the tiny towers; for MiniLM's 72, the first and last layer's."""
    layers = range(n_layers) if n_layers * n_heads <= 16 else (0, n_layers - 1)
    return [(layer, head) for layer in layers for head in range(n_heads)]


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_text_head_importance_equals_one_at_a_time(clip, mode):
    imp = mi.head_importance(clip, image=_image(), prompts=PROMPTS, prompt="a dog",
                             tower="text", mode=mode)
    outs, n_heads = tower_sites(clip, "text")
    assert imp.delta.shape == (len(outs), n_heads) and "“a dog”" in imp.target
    assert "text-tower" in imp.target and imp.tokens == tuple(PROMPTS)
    for layer, head in _heads_to_check(len(outs), n_heads):
        one = mi.ablate_heads(clip, image=_image(), prompts=PROMPTS, tower="text",
                              heads=[(layer, head)], mode=mode)
        assert imp.before == pytest.approx(float(one.probs_before[1]), abs=1e-6)
        assert imp.delta[layer, head] == pytest.approx(float(one.delta_prob[1]), abs=1e-5), \
            (layer, head)
    assert np.abs(imp.delta).max() > 0


def test_text_scan_in_chunks_equals_one_forward(clip, monkeypatch):
    from mminspect.api import causal_clip_text
    whole = mi.head_importance(clip, image=_image(), prompts=PROMPTS, tower="text", mode="mean")
    monkeypatch.setattr(causal_clip_text, "SCAN_ITEMS", len(PROMPTS))      # one head per forward
    split = mi.head_importance(clip, image=_image(), prompts=PROMPTS, tower="text", mode="mean")
    assert split.batch_size == 1 and split.target == whole.target
    np.testing.assert_allclose(split.delta, whole.delta, atol=1e-6)


def test_text_tower_ablation_leaves_the_model_unchanged(clip):
    edited = _copy(clip)                         # a snapshot of the text tower's weights
    outs, _ = tower_sites(clip, "text")
    pixels = clip.preprocess([_image()])
    before = clip.similarity(pixels, PROMPTS).clone()
    mi.ablate_heads(clip, image=_image(), prompts=PROMPTS, tower="text", heads=[(0, 0)], mode="mean")
    mi.head_importance(clip, image=_image(), prompts=PROMPTS, tower="text")
    assert torch.equal(clip.similarity(pixels, PROMPTS), before)
    assert all(not o._forward_pre_hooks for o in outs)
    tower = {"miniclip": lambda a: a.text.model, "open_clip": lambda a: a.text}.get(
        clip.family, lambda a: a.model)
    for (k, v), (k2, v2) in zip(tower(clip).state_dict().items(), tower(edited).state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    if clip.family == "open_clip":
        assert not is_patched(clip.text.transformer) and not is_patched(clip.model.visual.transformer)
    if clip.family == "open_clip_siglip":    # its image tower is timm's: nothing to patch there
        assert not is_patched(clip.text.transformer)


def test_text_tower_errors(clip):
    outs, n_heads = tower_sites(clip, "text")
    with pytest.raises(mi.InputError, match="Name heads of the text tower"):
        mi.ablate_heads(clip, image=_image(), prompts=PROMPTS, tower="text",
                        heads=[(len(outs), 0)])
    with pytest.raises(mi.InputError, match="heads 0..%d" % (n_heads - 1)):
        mi.ablate_heads(clip, image=_image(), prompts=PROMPTS, tower="text", heads=[(0, n_heads)])
    with pytest.raises(mi.InputError, match="Unknown ablation mode"):
        mi.ablate_heads(clip, image=_image(), prompts=PROMPTS, tower="text", heads=[(0, 0)],
                        mode="resample")
    with pytest.raises(mi.InputError, match="not among the prompts"):
        mi.head_importance(clip, image=_image(), prompts=PROMPTS, prompt="a zebra", tower="text")
