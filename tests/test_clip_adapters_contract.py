"""The CLIPAdapter contract, checked on every CLIP-style adapter: HF CLIPModel and open_clip
(tiny random models built here) and mini-CLIP (shipped weights, or random when not trained yet)."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from clip_tiny import (CLIP_FAMILIES, OPEN_CLIP_SIGLIP_FAMILIES, SIGLIP_FAMILIES,  # noqa: E402
                       tiny_clip_of)
from PIL import Image  # noqa: E402

from mminspect.models.clip_base import CLIPAdapter, PatchGrid  # noqa: E402
from mminspect.types import InputError  # noqa: E402

F = torch.nn.functional
FAMILIES = CLIP_FAMILIES + SIGLIP_FAMILIES + OPEN_CLIP_SIGLIP_FAMILIES
TEXT = "a photo of the red cat"


@pytest.fixture(scope="module", params=FAMILIES)
def clip(request, tmp_path_factory):
    return tiny_clip_of(request.param, tmp_path_factory)


def images() -> list:
    rng = np.random.default_rng(3)
    rgb = Image.fromarray(rng.integers(0, 256, (70, 50, 3), dtype=np.uint8))
    return [rgb, rgb.convert("RGBA"), rgb.convert("L"), rgb.convert("P"), np.asarray(rgb)]


@pytest.fixture(scope="module")
def pixels(clip):
    return clip.preprocess(images()[:1])


def test_it_is_an_image_text_adapter_of_its_family(clip):
    assert isinstance(clip, CLIPAdapter) and clip.family in FAMILIES
    assert clip.modalities == ("image", "text")
    assert 0 < clip.logit_scale <= 100 and clip.memory_bytes() > 0


def test_preprocess_takes_any_mode_and_size_to_the_grid_image_size(clip):
    g = clip.patch_grid
    assert isinstance(g, PatchGrid) and g.rows * g.patch_size == g.image_size[0]
    x = clip.preprocess(images())
    assert x.shape == (5, 3, *g.image_size) and x.dtype == torch.float32
    torch.testing.assert_close(x[0], x[4])                                  # PIL == array
    with pytest.raises(InputError):
        clip.preprocess(["not an image"])


def test_image_forward_shapes_rows_and_embedding(clip, pixels):
    g = clip.patch_grid
    out = clip.image_forward(pixels)
    n_layers, n_heads, t, t2 = out.attentions.shape
    assert t == t2 == g.n_tokens and out.tokens == g.token_labels()
    assert all(a.shape == (1, n_heads, t, t) for a in out.layer_attentions)
    torch.testing.assert_close(out.attentions.sum(-1), torch.ones(n_layers, n_heads, t))
    emb = clip.encode_image(pixels)                                          # [1, embed]
    assert out.patch_features.shape == (g.n_patches, emb.shape[1])
    torch.testing.assert_close(F.normalize(out.embedding, dim=0), emb[0], atol=1e-5, rtol=1e-4)


def test_text_forward_shapes_rows_and_embedding(clip):
    enc = clip.tokenize(TEXT)
    n = len(enc.tokens)
    assert enc.inputs["input_ids"].shape == (1, n) and enc.special.shape == (n,)
    assert enc.offsets.shape == (n, 2) and enc.special[-1]
    # SigLIP's SentencePiece text has no start token (it ends with </s> and pads); the others do
    assert enc.special[0] == (clip.family != "hf_siglip")
    words = [t.strip() for t in enc.tokens]                  # SentencePiece pieces keep a space
    assert not any("</w>" in t or "▁" in t for t in enc.tokens) and "cat" in words
    out = clip.text_forward(enc)
    assert out.attentions.shape[2:] == (n, n) and out.tokens == enc.tokens
    torch.testing.assert_close(out.attentions.sum(-1), torch.ones(out.attentions.shape[:3]))
    torch.testing.assert_close(F.normalize(out.embedding, dim=0), clip.encode_text([TEXT])[0],
                               atol=1e-5, rtol=1e-4)


def test_logits_are_logit_scale_times_cosine_plus_bias(clip, pixels):
    texts = [TEXT, "a blue square", TEXT]
    logits = clip.similarity(pixels, texts)                                  # [image, text]
    cos = clip.encode_image(pixels) @ clip.encode_text(texts).T
    torch.testing.assert_close(logits, clip.logit_scale * cos + clip.logit_bias)
    assert (clip.link, clip.logit_bias != 0) in (("softmax", False), ("sigmoid", True))
    torch.testing.assert_close(logits[:, 0], logits[:, 2])                  # duplicates agree
    sim = clip.patch_similarity(pixels, TEXT)
    assert sim.shape == (clip.patch_grid.rows, clip.patch_grid.cols) and sim.abs().max() <= 1 + 1e-5


def test_gradients_reach_every_attention_with_keep_graph_and_not_without(clip, pixels):
    img = clip.image_forward(pixels, keep_graph=True)
    txt = clip.text_forward(clip.tokenize(TEXT), keep_graph=True)
    score = F.normalize(img.embedding, dim=0) @ F.normalize(txt.embedding, dim=0)
    grads = torch.autograd.grad(score, img.layer_attentions + txt.layer_attentions)
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert clip.image_forward(pixels).embedding.grad_fn is None
    assert clip.text_forward(clip.tokenize(TEXT)).embedding.grad_fn is None


def test_adapters_store_nothing_about_the_last_request(clip, pixels):
    before = set(vars(clip))
    clip.image_forward(pixels)
    clip.text_forward(clip.tokenize(TEXT))
    assert set(vars(clip)) == before


def _rows_with_gradient(embedding: torch.Tensor, last_layer: torch.Tensor) -> np.ndarray:
    """Query rows of the last layer's attention [1, head, q, k] that the embedding depends on.
    After the last attention every op is per token until the pooling, so these are exactly
    the tokens the tower pools."""
    direction = torch.randn(embedding.shape[-1], generator=torch.Generator().manual_seed(0))
    g, = torch.autograd.grad(embedding @ direction.to(embedding), last_layer)
    return g[0].abs().sum((0, 2)).detach().cpu().numpy() > 0                # [q]


@pytest.mark.parametrize("text", [TEXT, "a dog", "the blue square on the left of a red circle"])
def test_text_pool_weights_are_the_tokens_the_text_tower_pools(clip, text):
    enc = clip.tokenize(text)
    w = clip.text_pool_weights(enc)
    assert w.shape == (len(enc.tokens),) and (w >= 0).all() and w.sum() == pytest.approx(1.0)
    out = clip.text_forward(enc, keep_graph=True)
    pooled = _rows_with_gradient(out.embedding, out.layer_attentions[-1])
    np.testing.assert_array_equal(w > 0, pooled)
    if pooled.sum() > 1:                         # mean pooling: every pooled token counts alike
        np.testing.assert_allclose(w[pooled], 1.0 / pooled.sum())


def test_image_pool_weights_are_the_tokens_the_image_tower_pools(clip, pixels):
    w = clip.image_pool_weights()
    assert w.shape == (clip.patch_grid.n_tokens,) and w.sum() == pytest.approx(1.0)
    out = clip.image_forward(pixels, keep_graph=True)
    np.testing.assert_array_equal(w > 0, _rows_with_gradient(out.embedding, out.layer_attentions[-1]))
