"""trace_head on CLIP-style towers (HF CLIP, open_clip, mini-CLIP; image and text): the
recomputed head equals the model's own attention and attention output, and the library's own
attention module run on the traced input gives the same numbers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import mminspect as mi
from mminspect.capture.layer_io import hook_count
from mminspect.capture.open_clip_attention import is_patched
from mminspect.types import InputError

from clip_tiny import CLIP_FAMILIES, OPEN_CLIP_SIGLIP_FAMILIES, SIGLIP_FAMILIES, tiny_clip_of

PROMPT = "a photo of a red cat"
TOL = 1e-5
FAMILIES = CLIP_FAMILIES + SIGLIP_FAMILIES + OPEN_CLIP_SIGLIP_FAMILIES


@pytest.fixture(scope="module", params=FAMILIES)
def clip(request, tmp_path_factory):
    return tiny_clip_of(request.param, tmp_path_factory)


def _image(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (40, 52, 3), dtype=np.uint8))


def _blocks(clip, tower):
    if clip.family == "hf_chinese_clip":         # CLIP's ViT, a BERT text tower
        return (clip.model.vision_model.encoder.layers if tower == "image"
                else clip.model.text_model.encoder.layer)
    if clip.family in ("hf_clip", "hf_siglip"):
        return (clip.model.vision_model if tower == "image" else clip.model.text_model).encoder.layers
    if clip.family == "open_clip":
        return (clip.model.visual if tower == "image" else clip.text).transformer.resblocks
    if clip.family == "open_clip_siglip":
        return clip.model.visual.trunk.blocks if tower == "image" else clip.text.transformer.resblocks
    return clip.model.visual.blocks if tower == "image" else clip.text.model.encoder.layer


@torch.no_grad()
def _library_attention(clip, tower, layer, x, causal):
    """(attention output [T, D], probabilities [head, T, T]) from the family's own attention
    module run on the traced x: a computation the trace did not do."""
    block = _blocks(clip, tower)[layer]
    xt = torch.from_numpy(x)[None]                                        # [1, T, D]
    t = x.shape[0]
    if clip.family in ("hf_clip", "hf_siglip") or (clip.family, tower) == ("hf_chinese_clip", "image"):
        mask = None
        if causal:
            mask = torch.full((t, t), float("-inf")).triu(1)[None, None]  # [1, 1, T, T]
        out, probs = block.self_attn(xt, attention_mask=mask)
        if probs.shape[-1] == t + 1:     # SigLIP's image attention leads with its [POOL] placeholder
            probs = probs[:, :, 1:, 1:]
        return out[0].numpy(), probs[0].numpy()
    if clip.family == "open_clip_siglip" and tower == "image":
        # timm's own attention (its non-fused path); the probabilities are its softmax, read
        # where timm applies attn_drop (the placeholder row/column cut off)
        from mminspect.models.open_clip_siglip import timm_attention
        with timm_attention([block]) as maps:
            out = block.attn(xt)
        return out[0].numpy(), maps[0][0, :, 1:, 1:].numpy()
    if clip.family in ("open_clip", "open_clip_siglip"):
        mask = torch.ones(t, t, dtype=torch.bool).triu(1) if causal else None   # True = hidden
        out, probs = block.attn(xt, xt, xt, need_weights=True, average_attn_weights=False,
                                attn_mask=mask)
        return out[0].numpy(), probs[0].numpy()
    if tower == "image":
        out, probs = block.attn(xt)
        return out[0].numpy(), probs[0].numpy()
    sa = block.attention
    out = sa.output.dense(sa.self(xt)[0])
    return out[0].numpy(), sa.self(xt)[1][0].numpy()


@pytest.mark.parametrize("tower", ["image", "text"])
def test_clip_trace_is_the_models_own_computation(clip, tower):
    kwargs = {"image": _image()} if tower == "image" else {"text": PROMPT}
    n_layers = len(_blocks(clip, tower))
    for layer in range(n_layers):
        for head in (0, 1):
            tr = mi.trace_head(clip, layer=layer, head=head, tower=tower, **kwargs)
            assert tr.tower == tower
            assert tr.max_error <= TOL, (clip.family, tower, layer, head, tr.weights_error,
                                         tr.output_error)
            out, probs = _library_attention(clip, tower, layer, tr.x, tr.causal)
            heads_sum = tr.residual_after - tr.residual                   # every head + bias
            np.testing.assert_allclose(heads_sum, out, atol=1e-5)
            np.testing.assert_allclose(tr.weights, probs[head], atol=1e-5)
            np.testing.assert_allclose(tr.scores * tr.scale, tr.q @ tr.k.T * tr.scale, atol=1e-4)


def test_clip_text_towers_are_causal_image_towers_are_not(clip):
    text = mi.trace_head(clip, PROMPT, tower="text")
    image = mi.trace_head(clip, image=_image(), tower="image")
    assert not image.causal and image.mask.all() and image.norm == "pre"
    # SigLIP's [POOL] is not a token of the blocks: the trace shows the patches only
    assert len(image.tokens) == clip.patch_grid.n_tokens - (clip.link == "sigmoid")
    if clip.family == "miniclip":            # its text tower is the bidirectional MiniLM
        assert not text.causal and text.norm == "post"
    elif clip.family == "hf_chinese_clip":   # a BERT: bidirectional, post-LayerNorm
        assert not text.causal and text.norm == "post" and text.mask.all()
    elif clip.link == "sigmoid":             # SigLIP's text tower is bidirectional too
        assert not text.causal and text.norm == "pre" and text.mask.all()
    else:
        assert text.causal and text.norm == "pre"
        assert np.all(text.weights[np.triu_indices(len(text.tokens), 1)] == 0)


def test_clip_trace_restores_the_model(clip):
    before = hook_count(clip.model)
    trunk = getattr(clip.model.visual, "trunk", None) if hasattr(clip.model, "visual") else None
    fused = [b.attn.fused_attn for b in trunk.blocks] if trunk is not None else []
    mi.trace_head(clip, image=_image(), layer=1, head=2)
    assert hook_count(clip.model) == before
    if trunk is not None:                    # open_clip SigLIP: timm's fused path is back
        assert [b.attn.fused_attn for b in trunk.blocks] == fused
    if clip.family == "open_clip":
        assert not is_patched(clip.model.visual.transformer)


def test_clip_trace_asks_for_the_right_input(clip):
    with pytest.raises(InputError, match="image="):
        mi.trace_head(clip, tower="image")
    with pytest.raises(InputError, match="text="):
        mi.trace_head(clip, tower="text")
    with pytest.raises(InputError, match="tower"):
        mi.trace_head(clip, PROMPT, tower="audio")


@pytest.mark.parametrize("tower", ["image", "text"])
def test_clip_embeddings_sum_is_the_layer0_input(clip, tower):
    kwargs = {"image": _image()} if tower == "image" else {"text": PROMPT}
    e = mi.trace_embeddings(clip, tower=tower, **kwargs)
    assert e.max_error <= TOL and e.tower == tower
    np.testing.assert_allclose(e.total, sum(e.parts.values()), atol=1e-6)
    if tower == "image":
        assert list(e.parts) == ["patch", "position"]
        assert len(e.tokens) == clip.patch_grid.n_tokens - (clip.link == "sigmoid")
    # the model's own first block input, read another way: the trace of layer 0
    tr = mi.trace_head(clip, layer=0, tower=tower, **kwargs)
    np.testing.assert_allclose(e.after_norm, tr.residual, atol=TOL)
    if clip.family in ("hf_clip", "hf_siglip"):
        with torch.no_grad():
            if tower == "image":
                px = clip.preprocess([_image()])
                h0 = clip.model.vision_model(pixel_values=px, output_hidden_states=True).hidden_states[0]
            else:
                enc = clip.tokenize(PROMPT)
                h0 = clip.model.text_model(**enc.inputs, output_hidden_states=True).hidden_states[0]
        np.testing.assert_allclose(e.after_norm, h0[0].numpy(), atol=TOL)


def test_check_attention_runs_on_clip_towers(clip):
    from mminspect.explain.attention_variants import ATTENTION_VARIANTS, correct_attention
    c = mi.check_attention(correct_attention, clip, layer=1, image=_image(), tower="image")
    assert c.passed and c.n_heads == len(c.head_errors)
    if clip.family in ("miniclip", "hf_chinese_clip") or clip.link == "sigmoid":
        return                               # bidirectional text towers: no mask to drop
    # a causal text tower: dropping the mask is named
    c = mi.check_attention(ATTENTION_VARIANTS["no_causal_mask"][0], clip, layer=0,
                           text=PROMPT, tower="text")
    assert c.matches == "no_causal_mask" and not c.passed, c
