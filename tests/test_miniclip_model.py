"""mini-CLIP model: the ViT's attention lives in the autograd graph, the loss, tiny training."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mminspect.miniclip.model import MiniCLIP, clip_loss, to_pixels  # noqa: E402
from mminspect.miniclip.scenes import scene  # noqa: E402
from mminspect.miniclip.vit import ViT, ViTConfig, sincos_2d  # noqa: E402

TINY = ViTConfig(image_size=64, stem_channels=(8, 16, 32), width=32, depth=2, heads=2,
                 mlp_ratio=2, embed_dim=16)


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    return ViT(TINY).eval()


@pytest.fixture(scope="module")
def pixels():
    return to_pixels(np.stack([scene(0, i).image for i in range(3)]))   # [3, 3, 64, 64]


def test_vit_shapes_and_attention_rows_sum_to_one(vit, pixels):
    emb, patches, attns = vit(pixels, return_attentions=True)
    g = TINY.grid
    assert TINY.patch == 8 and g == 8
    assert emb.shape == (3, TINY.embed_dim)
    assert patches.shape == (3, g * g, TINY.embed_dim)
    assert len(attns) == TINY.depth
    for a in attns:
        assert a.shape == (3, TINY.heads, 1 + g * g, 1 + g * g)
        torch.testing.assert_close(a.sum(-1), torch.ones(3, TINY.heads, 1 + g * g))


def test_attention_tensors_are_the_ones_used_for_the_output(vit, pixels):
    """Chefer et al. need d(score)/d(attention): grad must flow to the returned tensors, and
    changing them must change the output (they are not a side copy)."""
    emb, _, attns = vit(pixels[:1], return_attentions=True)
    grads = torch.autograd.grad(emb[0, 0], attns)
    assert all(g.shape == a.shape for g, a in zip(grads, attns))
    assert all(g.abs().sum() > 0 for g in grads)


def test_patch_features_are_patch_tokens_through_final_norm_and_projection(vit, pixels):
    emb, patches, _ = vit(pixels)
    x = vit.tokens(pixels)                                   # [batch, token, width]
    for blk in vit.blocks:
        x, _ = blk(x)
    z = vit.proj(vit.ln_f(x))                                # [batch, token, embed]
    torch.testing.assert_close(patches, z[:, 1:])
    torch.testing.assert_close(emb, z[:, 0])


def test_patch_grid_is_row_major(vit):
    """A change confined to one 8x8 patch changes that patch's stem output only."""
    x = torch.zeros(1, 3, 64, 64)
    y = x.clone()
    y[:, :, 16:24, 40:48] = 3.0                              # row 2, col 5
    with torch.no_grad():
        dx = (vit.tokens(y) - vit.tokens(x)).abs().sum(-1)[0, 1:]   # [patch]
    assert int(dx.argmax()) == 2 * 8 + 5


def test_sincos_positions_are_fixed_and_distinct():
    p = sincos_2d(8, 32)
    assert p.shape == (64, 32)
    d = torch.cdist(p, p) + torch.eye(64) * 1e3
    assert d.min() > 0.1                                     # no two patches share a position
    torch.testing.assert_close(p, sincos_2d(8, 32))


def test_clip_loss_is_low_for_matching_pairs_and_masks_identical_captions():
    eye = torch.eye(4) * 20
    assert clip_loss(eye) < 0.01
    assert clip_loss(torch.zeros(4, 4)) == pytest.approx(np.log(4), rel=1e-5)
    # Items 0 and 1 share a caption: their cross logits are not counted as negatives.
    logits = eye.clone()
    logits[0, 1] = logits[1, 0] = 20.0
    same = torch.zeros(4, 4, dtype=torch.bool)
    same[0, 1] = same[1, 0] = True
    assert clip_loss(logits, same) < 0.01 < clip_loss(logits)


def test_logit_scale_is_clamped_to_a_temperature_of_one_hundredth():
    m = MiniCLIP(TINY)
    with torch.no_grad():
        m.logit_scale.fill_(10.0)
    assert m.scale().item() == pytest.approx(100.0)


@pytest.fixture(scope="module")
def text_tower():
    from mminspect.models.miniclip_adapter import minilm_text_tower
    return minilm_text_tower("cpu")


def test_a_few_training_steps_lower_the_loss_on_a_fixed_batch(text_tower):
    from mminspect.lab import miniclip_train as T
    cfg = T.TrainConfig(seed=0, data_seed=5, pool=64, steps=40, batch=32, lr=3e-3, warmup=5,
                        vit=TINY)
    layouts, captions = T.build_pool(cfg)
    unique = sorted(set(captions))
    feats = torch.from_numpy(text_tower.embed(unique))                  # [unique, 384]
    ids_all = np.array([unique.index(c) for c in captions])

    def fixed_loss(model):
        pixels, ids = T.batch(cfg, layouts, ids_all, step=10_000)       # never a training step
        with torch.no_grad():
            model.eval()
            return float(clip_loss(model(pixels, feats[ids]), ids[:, None] == ids[None, :]))

    torch.manual_seed(cfg.seed)
    before = fixed_loss(MiniCLIP(TINY))
    model, hist = T.train(cfg, text_tower, log=lambda s: None)
    after = fixed_loss(model)
    assert len(hist["losses"]) == 40
    assert after < before - 0.3, (before, after)
    # Same seeds, same result: training is reproducible.
    model2, hist2 = T.train(cfg, text_tower, log=lambda s: None)
    assert hist2["losses"] == pytest.approx(hist["losses"], rel=1e-4)
