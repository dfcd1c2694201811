"""Causal lab on open_clip: its nn.MultiheadAttention applies out_proj inside one
fused call, so the heads are reached through the attention recomputation
(capture/open_clip_heads.py). What the other causal tests cannot see: the premise (plain
open_clip never calls out_proj), the recomputation's parity and restore, the refusal of
custom attention, and every experiment leaving the weights and the patch state as they were.
(Zero and mean ablation against weight- and bias-edited copies run by the library's fused
attention, the scans and patching run on open_clip in tests/test_causal_clip.py and
tests/test_causal_clip_text.py.)"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402

import mminspect as mi  # noqa: E402
from clip_tiny import register_tiny_open_clip, tiny_clip_of  # noqa: E402
from mminspect.api.causal_towers import tower_sites  # noqa: E402
from mminspect.capture.open_clip_attention import AttentionNotAvailable, is_patched  # noqa: E402
from mminspect.capture.open_clip_heads import expose_heads  # noqa: E402
from mminspect.models import load  # noqa: E402

PROMPTS = ["a photo of a cat", "a dog", "a red square"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return tiny_clip_of("open_clip", tmp_path_factory)


def _image(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))


def _calls(outs):
    """Count the calls of each output projection (a pre-hook of the test's own)."""
    counts = [0] * len(outs)
    handles = [o.register_forward_pre_hook(lambda m, a, i=i: counts.__setitem__(i, counts[i] + 1))
               for i, o in enumerate(outs)]
    return counts, handles


@torch.no_grad()
def test_plain_open_clip_never_calls_out_proj_and_the_exposure_does_once_per_layer(clip):
    outs, _ = tower_sites(clip, "image")
    pixels = clip.preprocess([_image()])
    counts, handles = _calls(outs)
    try:
        plain = clip.encode_image(pixels)
        assert counts == [0] * len(outs)       # the premise: no hook on out_proj sees the heads
        with expose_heads(clip.model.visual.transformer):
            exposed = clip.encode_image(pixels)
        assert counts == [1] * len(outs)
    finally:
        for h in handles:
            h.remove()
    torch.testing.assert_close(exposed, plain, atol=1e-6, rtol=1e-5)


@torch.no_grad()
def test_the_exposure_equals_the_library_for_text_and_is_restored_after_an_exception(clip):
    ids = clip.tokenizer(PROMPTS)                                       # [text, 77]: padded
    plain = clip.model.encode_text(ids)
    with expose_heads(clip.text.transformer):
        assert is_patched(clip.text.transformer)
        exposed = clip.model.encode_text(ids)
    torch.testing.assert_close(exposed, plain, atol=1e-6, rtol=1e-5)
    with pytest.raises(RuntimeError, match="boom"):
        with expose_heads(clip.model.visual.transformer):
            raise RuntimeError("boom")
    for t in (clip.model.visual.transformer, clip.text.transformer):
        assert not is_patched(t)
        assert all(b.attn.forward.__func__ is nn.MultiheadAttention.forward for b in t.resblocks)


def test_custom_attention_is_refused_with_the_reason(tmp_path):
    arch = register_tiny_open_clip(tmp_path, "mminspect-tiny-qknorm-causal", qk_norm=True)
    odd = load(f"open_clip:{arch}/random")
    with pytest.raises(AttentionNotAvailable, match="qk-norm") as e:
        mi.ablate_heads(odd, image=_image(), prompts=PROMPTS, heads=[(0, 0)])
    assert isinstance(e.value, mi.InputError) and "image tower" in str(e.value)
    assert not is_patched(odd.model.visual.transformer)
    # its text tower is standard: text-tower ablation still works
    got = mi.ablate_heads(odd, image=_image(), prompts=PROMPTS, heads=[(0, 0)], tower="text")
    assert np.abs(got.delta_logit).max() > 0


def test_every_experiment_leaves_weights_outputs_and_blocks_as_they_were(clip):
    state = {k: v.clone() for k, v in clip.model.state_dict().items()}
    pixels = clip.preprocess([_image()])
    before = clip.similarity(pixels, PROMPTS).clone()
    for tower in ("image", "text"):
        mi.ablate_heads(clip, image=_image(), prompts=PROMPTS, heads=[(1, 3)], tower=tower,
                        mode="mean")
        mi.head_importance(clip, image=_image(), prompts=PROMPTS, tower=tower)
    for site in ("residual", "heads"):
        mi.patch_activations(clip, _image(0), _image(1), prompts=PROMPTS, site=site)
    assert torch.equal(clip.similarity(pixels, PROMPTS), before)
    after = clip.model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in state.items())
    for t in (clip.model.visual.transformer, clip.text.transformer):
        assert not is_patched(t)
        assert all(not b.attn.out_proj._forward_pre_hooks and not b._forward_hooks
                   for b in t.resblocks)
