"""Image-text explainers on tiny random HF CLIP, open_clip and mini-CLIP: the prediction step
by step, batched relevance equal to the per-prompt recipe, relevance by hand, contrasts,
IG completeness on pixels, similarity maps."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from clip_tiny import (CLIP_FAMILIES, OPEN_CLIP_SIGLIP_FAMILIES, SIGLIP_FAMILIES,  # noqa: E402
                       tiny_clip_of)

import mminspect as mi  # noqa: E402
from mminspect.explain.pixel_attribution import logit_function  # noqa: E402
from mminspect.explain.relevance import (STRATEGIES, propagate, relevance_batched,  # noqa: E402
                                         relevance_per_prompt)
from mminspect.types import ClipView, PixelAttribution  # noqa: E402

FAMILIES = CLIP_FAMILIES + SIGLIP_FAMILIES + OPEN_CLIP_SIGLIP_FAMILIES
PROMPTS = ["a photo of the cat", "a red square", "the dog on the left", "a blue circle"]


@pytest.fixture(scope="module", params=FAMILIES)
def clip(request, tmp_path_factory):
    return tiny_clip_of(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(5).integers(0, 256, (45, 60, 3), dtype=np.uint8)


def test_probabilities_follow_the_link_and_match_a_direct_computation(clip, image):
    other = image[::-1].copy()
    view = mi.inspect_clip(clip, [image, other], PROMPTS)
    assert isinstance(view, ClipView) and view.probs.shape == (2, 4)
    # Directly, through the adapter's own batched encoders (a different code path).
    logits = clip.similarity(clip.preprocess([image, other]), PROMPTS).double()   # [image, text]
    np.testing.assert_allclose(view.logits, logits.numpy(), rtol=1e-4, atol=1e-4)
    assert view.link == clip.link and view.logit_bias == pytest.approx(clip.logit_bias)
    if clip.link == "softmax":                       # CLIP: one distribution over the prompts
        np.testing.assert_allclose(view.probs.sum(1), 1, atol=1e-6)
        np.testing.assert_allclose(view.probs, logits.softmax(1).numpy(), atol=1e-5)
    else:                                            # SigLIP: one sigmoid per (image, prompt)
        np.testing.assert_allclose(view.probs, torch.sigmoid(logits).numpy(), atol=1e-6)
        assert not np.allclose(view.probs.sum(1), 1, atol=1e-3)
    np.testing.assert_allclose(view.logits, view.logit_scale * view.cosine + view.logit_bias,
                               rtol=1e-5, atol=1e-5)
    assert view.logit_scale == pytest.approx(clip.logit_scale)


def test_inspect_clip_gives_what_a_ui_draws(clip, image):
    view = mi.inspect_clip(clip, image, "cat\ndog", template="a photo of a {}")
    g = clip.patch_grid
    assert view.prompts == ["a photo of a cat", "a photo of a dog"]
    assert view.images.shape == (1, *g.image_size, 3) and view.images.dtype == np.uint8
    assert (view.grid_rows, view.grid_cols) == (g.rows, g.cols)
    att = view.image_attention
    assert att.shape[0] == 1 and att.shape[-1] == g.n_tokens == len(view.image_tokens)
    np.testing.assert_allclose(att.sum(-1), 1, atol=1e-4)
    for t in view.texts:
        np.testing.assert_allclose(t.attention.sum(-1), 1, atol=1e-4)
        assert t.attention.shape[-1] == len(t.tokens)
    assert view.pca.shape == (3, 2) and 0 < view.pca_variance.sum() <= 1 + 1e-6
    # PCA keeps distances: the first two axes of 3 centred points are the whole picture.
    x = np.concatenate([view.image_embeddings, view.prompt_embeddings])
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    d2 = np.linalg.norm(view.pca[:, None] - view.pca[None], axis=-1)
    np.testing.assert_allclose(d2, d, atol=1e-4)
    assert any("resized from 60x45" in n for n in view.notes)


@pytest.mark.parametrize("strategy", ["vjp", "copies"])
def test_batched_relevance_equals_the_per_prompt_recipe(clip, image, strategy):
    px = clip.preprocess([image])
    encs = [clip.tokenize(p) for p in PROMPTS]
    t = torch.nn.functional.normalize(clip.encode_text(PROMPTS), dim=-1)
    STRATEGIES[strategy](clip, px, t)            # runs as such (no silent fallback to copies)
    ours = relevance_batched(clip, px, encs, strategy=strategy)
    ref = relevance_per_prompt(clip, px, encs)
    np.testing.assert_allclose(ours.scores, ref.scores, rtol=1e-5, atol=1e-5)
    assert ours.image.shape == (4, clip.patch_grid.n_tokens)
    np.testing.assert_allclose(ours.image, ref.image, rtol=1e-5, atol=1e-6)
    for a, b in zip(ours.text, ref.text):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # Not trivially equal: the prompts get different maps.
    assert np.abs(ours.image[0] - ours.image[1]).max() > 1e-4


def test_relevance_by_hand_two_layers_two_heads():
    a1 = torch.tensor([[0.5, 0.5], [0.0, 1.0]])
    a2 = torch.tensor([[0.2, 0.8], [0.6, 0.4]])
    # Head 2 has negative gradients everywhere: clamped to 0, so each layer's mean is A / 2.
    g = torch.stack([torch.full((2, 2), 2.0), torch.full((2, 2), -3.0)])[None]  # [1, head, q, k]
    att = [torch.stack([a, a])[None] for a in (a1, a2)]                          # [1, head, q, k]
    r = propagate(att, [g, g])[0]
    r1 = torch.eye(2) + a1                      # 2.0 * A / 2 = A
    expected = r1 + a2 @ r1                     # R += Ā @ R (bottom up)
    torch.testing.assert_close(r, expected)
    torch.testing.assert_close(r, torch.tensor([[1.8, 2.2], [0.9, 3.1]]))


def test_relevance_map_is_the_cls_row_and_words_skip_specials(clip, image):
    res = mi.attribute_image(clip, image, "a photo of the cat")
    px = clip.preprocess([image])
    rel = relevance_batched(clip, px, [clip.tokenize("a photo of the cat")])
    g = clip.patch_grid
    np.testing.assert_allclose(res.patch_scores, rel.image[0][1:].reshape(g.rows, g.cols), rtol=1e-5)
    assert res.scores.shape == g.image_size
    np.testing.assert_allclose(res.scores[::g.patch_size, ::g.patch_size], res.patch_scores)
    assert res.words == ["a", "photo", "of", "the", "cat"] and len(res.word_scores) == 5
    assert (res.patch_scores >= 0).all() and res.target_value == pytest.approx(rel.scores[0], rel=1e-5)


def test_contrastive_map_is_the_difference(clip, image):
    a = mi.attribute_image(clip, image, "a photo of the cat")
    b = mi.attribute_image(clip, image, "a red square")
    ab = mi.attribute_image(clip, image, "a photo of the cat", contrast="a red square")
    np.testing.assert_allclose(ab.patch_scores, a.patch_scores - b.patch_scores, atol=1e-6)
    assert ab.target_value == pytest.approx(a.target_value - b.target_value, abs=1e-4)
    assert ab.contrast == "a red square" and "logit('a red square')" in ab.target


def test_explain_prompts_batches_and_shares_the_scale(clip, image):
    panel = mi.explain_prompts(clip, image, PROMPTS, contrasts=[(PROMPTS[0], PROMPTS[1])])
    assert panel.prompts == PROMPTS and len(panel.maps) == len(panel.similarity) == 4
    for p, m in zip(PROMPTS, panel.maps):
        one = mi.attribute_image(clip, image, p)
        np.testing.assert_allclose(m.patch_scores, one.patch_scores, rtol=1e-5, atol=1e-7)
    assert panel.vmax == pytest.approx(max(np.abs(m.patch_scores).max() for m in panel.maps))
    pair = panel.contrasts[(PROMPTS[0], PROMPTS[1])]
    np.testing.assert_allclose(pair.patch_scores,
                               panel.maps[0].patch_scores - panel.maps[1].patch_scores, atol=1e-6)


def test_similarity_map_matches_the_adapter_patch_similarity(clip, image):
    res = mi.attribute_image(clip, image, "a blue circle", method="similarity")
    direct = clip.patch_similarity(clip.preprocess([image]), "a blue circle").numpy()
    np.testing.assert_allclose(res.patch_scores, direct, atol=1e-5)
    assert -1 <= res.patch_scores.min() and res.patch_scores.max() <= 1


def test_integrated_gradients_on_pixels_is_complete(clip, image):
    seen = []
    res = mi.attribute_image(clip, image, "a red square", method="integrated_gradients",
                             n_steps=16, progress=lambda f, msg: seen.append(f))
    px = clip.preprocess([image])
    f = logit_function(clip, clip.encode_text(["a red square"]), torch.tensor([1.0]))
    with torch.no_grad():
        gap = float(f(px)[0] - f(torch.zeros_like(px))[0])
    assert abs(res.scores.sum() - gap) <= 0.01 * abs(gap) + 1e-6
    assert res.convergence_delta <= 0.01 * abs(gap) + 1e-6 and res.n_steps == 16
    np.testing.assert_allclose(res.patch_scores.sum(), res.scores.sum(), rtol=1e-4, atol=1e-6)
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)


@pytest.mark.parametrize("method", ["occlusion", "gradient_shap", "rollout", "raw_attention"])
def test_other_maps_have_the_grid_and_are_finite(clip, image, method):
    res = mi.attribute_image(clip, image, "a red square", method=method)
    assert isinstance(res, PixelAttribution) and res.method == method
    assert res.patch_scores.shape == (clip.patch_grid.rows, clip.patch_grid.cols)
    assert np.abs(res.patch_scores).max() > 0
    if method in ("rollout", "raw_attention"):
        # Prompt-independent: same map for any prompt; a share of the CLS attention.
        other = mi.attribute_image(clip, image, "a blue circle", method=method)
        np.testing.assert_allclose(res.patch_scores, other.patch_scores)
        assert 0 < res.patch_scores.sum() <= 1 + 1e-5


def test_faithfulness_of_the_ig_map_beats_a_random_order(clip, image):
    res = mi.attribute_image(clip, image, "a red square", method="integrated_gradients",
                             faithfulness=True, n_steps=16)
    f = res.faithfulness
    assert f is not None and f.fractions[0] == 0 and f.fractions[-1] == 1
    assert f.deletion[0] == pytest.approx(res.target_value, abs=1e-4)
    # Deleting the patches IG ranks highest must lower the logit more than random deletion.
    assert f.deletion_area > 0 and f.insertion_area > 0
    assert f.deletion[-1] == pytest.approx(f.insertion[0]) and f.insertion[-1] == pytest.approx(f.deletion[0])


def test_pointing_hit_uses_the_mask(clip, image):
    g = clip.patch_grid
    mask = np.zeros(image.shape[:2], bool)
    res = mi.attribute_image(clip, image, "a red square", method="similarity", mask=~mask)
    assert res.pointing_hit is True
    res = mi.attribute_image(clip, image, "a red square", method="similarity", mask=mask)
    assert res.pointing_hit is False
    assert g.rows >= 2


def test_method_list_declares_parameters():
    methods = {m["name"]: m for m in mi.list_image_methods()}
    assert {"relevance", "similarity", "rollout", "raw_attention", "integrated_gradients",
            "occlusion", "gradient_shap"} <= set(methods)
    assert methods["integrated_gradients"]["params"][0]["name"] == "n_steps"
    assert methods["rollout"]["prompt"] is False


def test_padded_text_batch_equals_one_text_at_a_time(clip):
    encs = [clip.tokenize(p) for p in PROMPTS]              # different lengths
    try:
        batch = clip.text_forward_batch(encs)
    except NotImplementedError:
        assert clip.family == "miniclip"                    # falls back to one text at a time
        return
    lengths = {e.inputs["input_ids"].shape[1] for e in encs}
    # SigLIP reads every text padded to max_length (as trained); the others pad in the batch
    assert len(lengths) == 1 if clip.link == "sigmoid" else len(lengths) > 1
    for i, e in enumerate(encs):
        one = clip.text_forward(e)
        n = e.inputs["input_ids"].shape[1]
        torch.testing.assert_close(batch.embedding[i], one.embedding, atol=1e-5, rtol=1e-5)
        for a, b in zip(batch.layer_attentions, one.layer_attentions):
            torch.testing.assert_close(a[i, :, :n, :n], b[0], atol=1e-6, rtol=1e-5)
