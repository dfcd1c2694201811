"""open_clip's SigLIP layout (timm ViT, attention pooling, bidirectional text, logit bias) on a
tiny random build: routed by the registry, logits equal open_clip's own forward, the captured
attentions equal timm's softmax computed by hand, the pooling head equals timm's, and the
temporary capture leaves the model as it was."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from clip_tiny import tiny_clip_of  # noqa: E402

from mminspect.capture.layer_io import hook_count  # noqa: E402
from mminspect.models.open_clip_adapter import OpenCLIPAdapter  # noqa: E402
from mminspect.models.open_clip_siglip import OpenCLIPSiglipAdapter  # noqa: E402

F = torch.nn.functional
PROMPTS = ["a photo of a cat", "a blue square", "the red circle"]


@pytest.fixture(scope="module")
def siglip(tmp_path_factory):
    return tiny_clip_of("open_clip_siglip", tmp_path_factory)


@pytest.fixture(scope="module")
def pixels(siglip):
    rng = np.random.default_rng(1)
    return siglip.preprocess([rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)])


def test_the_registry_routes_map_pooled_timm_towers_here_and_vits_to_open_clip(siglip, tmp_path_factory):
    assert isinstance(siglip, OpenCLIPSiglipAdapter) and siglip.family == "open_clip_siglip"
    assert siglip.link == "sigmoid" and siglip.logit_bias == pytest.approx(-3.0)
    plain = tiny_clip_of("open_clip", tmp_path_factory)
    assert type(plain) is OpenCLIPAdapter and plain.family == "open_clip" and plain.link == "softmax"


def test_logits_equal_open_clips_own_forward(siglip, pixels):
    ids = siglip.tokenizer(PROMPTS)
    with torch.no_grad():
        img, txt, scale, bias = siglip.model(pixels, ids)                  # unit vectors, exp(scale)
    ref = scale * img @ txt.T + bias                                        # [1, prompt]
    torch.testing.assert_close(siglip.similarity(pixels, PROMPTS), ref, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_encoder_attention_is_timms_softmax_by_hand(siglip, pixels):
    trunk = siglip.model.visual.trunk
    out = siglip.image_forward(pixels)
    assert len(out.layer_attentions) == len(trunk.blocks) + 1
    x = trunk.norm_pre(trunk._pos_embed(trunk.patch_embed(pixels)))          # [1, N, D]
    for layer, block in enumerate(trunk.blocks):
        attn = block.attn
        q, k, _ = attn.qkv(block.norm1(x)).view(1, x.shape[1], 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
        by_hand = F.softmax(q @ k.transpose(-1, -2) * attn.scale, dim=-1)    # [1, h, N, N]
        ours = out.layer_attentions[layer]
        torch.testing.assert_close(ours[:, :, 1:, 1:], by_hand, atol=1e-6, rtol=1e-5)
        assert (ours[:, :, 0, 0] == 1).all() and (ours[:, :, 1:, 0] == 0).all()
        x = block(x)


@torch.no_grad()
def test_the_pooling_layer_and_embedding_are_timms_attention_pool(siglip, pixels):
    trunk = siglip.model.visual.trunk
    x = trunk.forward_features(pixels)                                      # [1, N, D]
    ap = trunk.attn_pool
    q = ap.q(ap.latent).view(1, 1, ap.num_heads, -1).transpose(1, 2)
    k = ap.kv(x).view(1, x.shape[1], 2, ap.num_heads, -1)[:, :, 0].transpose(1, 2)
    by_hand = F.softmax(q @ k.transpose(-1, -2) * ap.scale, dim=-1)         # [1, h, 1, N]
    out = siglip.image_forward(pixels)
    torch.testing.assert_close(out.layer_attentions[-1][:, :, :1, 1:], by_hand, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out.embedding, ap(x)[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(F.normalize(out.embedding, dim=0), siglip.encode_image(pixels)[0],
                               atol=1e-5, rtol=1e-5)


def test_the_capture_restores_timms_fused_path_and_leaves_no_hook(siglip, pixels):
    blocks = siglip.model.visual.trunk.blocks
    fused, hooks = [b.attn.fused_attn for b in blocks], hook_count(siglip.model)
    siglip.image_forward(pixels, keep_graph=True)
    with pytest.raises(RuntimeError):
        from mminspect.models.open_clip_siglip import timm_attention
        with timm_attention(blocks):
            raise RuntimeError("a forward that fails inside the capture")
    assert [b.attn.fused_attn for b in blocks] == fused and hook_count(siglip.model) == hooks


def test_relevance_reaches_every_layer_of_both_towers(siglip, pixels):
    img = siglip.image_forward(pixels, keep_graph=True)
    txt = siglip.text_forward(siglip.tokenize(PROMPTS[0]), keep_graph=True)
    score = F.normalize(img.embedding, dim=0) @ F.normalize(txt.embedding, dim=0)
    grads = torch.autograd.grad(score, img.layer_attentions + txt.layer_attentions)
    assert all(g.abs().sum() > 0 for g in grads)
    # the placeholder's row / column inside the encoder carry no gradient: nothing reads them
    assert all(g[:, :, 0, 1:].abs().sum() == 0 for g in grads[:len(img.layer_attentions) - 1])
