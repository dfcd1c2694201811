"""One Image-text click, one pass: `inspect_clip(..., maps=True)` runs the image tower once per
image and the text tower once per prompt, and its values equal the separate `inspect_clip` +
`explain_prompts` calls and the published per-prompt recipe. Also: image methods are registry
entries with their own functions, and the pointing mask follows the image to any model size."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from collections import Counter  # noqa: E402
from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from clip_tiny import (CLIP_FAMILIES, OPEN_CLIP_SIGLIP_FAMILIES, SIGLIP_FAMILIES,  # noqa: E402
                       tiny_clip_of, tiny_hf_clip_dir)
from PIL import Image  # noqa: E402

import mminspect as mi  # noqa: E402
from mminspect.api.images import model_mask  # noqa: E402
from mminspect.explain.image_methods import IMAGE_METHODS, ImageMethod, MapOutput  # noqa: E402
from mminspect.explain.pointing import pointing_hit  # noqa: E402
from mminspect.explain.relevance import relevance_per_prompt  # noqa: E402

PROMPTS = ["a photo of the cat", "a red square", "the dog on the left", "a blue circle"]


@pytest.fixture(scope="module",
                params=CLIP_FAMILIES + SIGLIP_FAMILIES + OPEN_CLIP_SIGLIP_FAMILIES)
def clip(request, tmp_path_factory):
    return tiny_clip_of(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(5)
    return [rng.integers(0, 256, (45, 60, 3), dtype=np.uint8),
            rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)]


def spy_towers(clip, monkeypatch) -> list[tuple[str, list]]:
    """Record every tower forward that ran: (method, what went through) with one entry per
    image (its pixels' sum) or per prompt (its token ids). A batch call that refuses
    (NotImplementedError: the adapter runs texts one at a time) ran nothing and is not kept.
    A call made from inside another spied call (an adapter's image_forward that runs its own
    image_forward_batch) is the same forward, counted once, by the outer call."""
    seen = []
    depth = [0]

    def wrap(name, items):
        real = getattr(clip, name)

        def spy(x, *args, **kwargs):
            depth[0] += 1
            try:
                out = real(x, *args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0:
                seen.append((name, items(x)))
            return out
        monkeypatch.setattr(clip, name, spy)

    one_text = lambda e: [tuple(e.inputs["input_ids"][0].tolist())]          # noqa: E731
    wrap("image_forward", lambda px: [round(float(p.sum()), 3) for p in px])
    wrap("image_forward_batch", lambda px: [round(float(p.sum()), 3) for p in px])
    wrap("text_forward", one_text)
    wrap("text_forward_batch", lambda encs: [one_text(e)[0] for e in encs])
    return seen


def test_one_inspect_runs_each_image_and_each_prompt_through_its_tower_once(clip, images, monkeypatch):
    seen = spy_towers(clip, monkeypatch)
    view = mi.inspect_clip(clip, images, PROMPTS, maps=True)
    assert view.maps is not None and len(view.maps.maps) == len(view.maps.similarity) == 4
    image_calls = [items for name, items in seen if name.startswith("image")]
    text_calls = [(name, items) for name, items in seen if name.startswith("text")]
    # Image tower: one call per image, each with that one image.
    assert [len(i) for i in image_calls] == [1, 1]
    px = clip.preprocess([Image.fromarray(im) for im in images])
    assert [i[0] for i in image_calls] == [round(float(p.sum()), 3) for p in px]
    # Text tower: every prompt exactly once, in one padded batch (HF CLIP, open_clip and
    # mini-CLIP all run one: 1 call)
    ids = Counter(i for _, items in text_calls for i in items)
    assert ids == Counter(tuple(clip.tokenize(p).inputs["input_ids"][0].tolist()) for p in PROMPTS)
    assert [name for name, _ in text_calls] == ["text_forward_batch"]


def test_explain_prompts_alone_also_runs_each_tower_once(clip, images, monkeypatch):
    seen = spy_towers(clip, monkeypatch)
    mi.explain_prompts(clip, images[0], PROMPTS)
    assert sum(len(i) for n, i in seen if n.startswith("image")) == 1
    assert sum(len(i) for n, i in seen if n.startswith("text")) == 4


def test_one_pass_equals_the_separate_calls_and_the_per_prompt_recipe(clip, images):
    view = mi.inspect_clip(clip, images, PROMPTS, maps=True)
    plain = mi.inspect_clip(clip, images, PROMPTS)
    panel = mi.explain_prompts(clip, images[0], PROMPTS)
    assert plain.maps is None and view.prompts == plain.prompts == panel.prompts
    close = dict(rtol=1e-5, atol=1e-5)
    for name in ("cosine", "logits", "probs", "image_embeddings", "prompt_embeddings", "pca",
                 "pca_variance", "image_attention"):
        np.testing.assert_allclose(getattr(view, name), getattr(plain, name), **close, err_msg=name)
    for a, b in zip(view.texts, plain.texts):
        assert a.tokens == b.tokens and a.pooled == b.pooled
        np.testing.assert_allclose(a.attention, b.attention, **close)
    maps = view.maps
    for a, b in zip(maps.maps + maps.similarity, panel.maps + panel.similarity):
        assert (a.prompt, a.method, a.words) == (b.prompt, b.method, b.words)
        np.testing.assert_allclose(a.patch_scores, b.patch_scores, **close)
        np.testing.assert_allclose(a.word_scores, b.word_scores, **close)
        assert a.target_value == pytest.approx(b.target_value, rel=1e-5, abs=1e-5)
    assert maps.vmax == pytest.approx(panel.vmax, rel=1e-5)
    # Not only self-consistent: the published recipe (a forward of both towers and a full
    # backward per prompt) and the adapter's own encoders give the same numbers.
    px = clip.preprocess([Image.fromarray(images[0])])
    ref = relevance_per_prompt(clip, px, [clip.tokenize(p) for p in PROMPTS])
    g = clip.patch_grid
    for i, m in enumerate(maps.maps):
        np.testing.assert_allclose(m.patch_scores, ref.image[i][g.cls_offset:].reshape(g.rows, g.cols),
                                   rtol=1e-5, atol=1e-6)
        assert m.target_value == pytest.approx(ref.scores[i], rel=1e-5)
        # the maps explain logit_scale * cosine: SigLIP's bias is a constant, no map moves
        assert m.target_value == pytest.approx(view.logits[0, i] - view.logit_bias, rel=1e-5,
                                               abs=1e-5)
    for p, s in zip(PROMPTS, maps.similarity):
        np.testing.assert_allclose(s.patch_scores, clip.patch_similarity(px, p).numpy(), atol=1e-5)
    logits = clip.similarity(clip.preprocess([Image.fromarray(im) for im in images]), PROMPTS)
    np.testing.assert_allclose(view.logits, logits.numpy(), rtol=1e-4, atol=1e-4)


def test_every_note_is_in_the_view_once(clip, images):
    view = mi.inspect_clip(clip, images[0], PROMPTS + [PROMPTS[0]], maps=True)
    assert len(view.notes) == len(set(view.notes)) == 2, view.notes
    assert any("resized from 60x45" in n for n in view.notes)
    assert any("Duplicate prompt" in n for n in view.notes)
    assert view.maps.notes == []


def test_a_new_image_method_is_one_registry_entry(clip, images, monkeypatch):
    """The API dispatches through the entry's own function: adding an entry is enough."""
    g = clip.patch_grid
    calls = []

    def centre(query, params, progress):
        calls.append((len(query.encs), params))
        patch = np.zeros((g.rows, g.cols), np.float32)
        patch[g.rows // 2, g.cols // 2] = params["weight"]
        return MapOutput(patch, np.kron(patch, np.ones((g.patch_size,) * 2, np.float32)), 0.0)

    from mminspect.explain.attribution import Param
    entry = ImageMethod("centre", "Centre patch", centre, (Param("weight", 1.0, 0.0, 2.0, 0.5),))
    monkeypatch.setitem(IMAGE_METHODS, "centre", entry)
    assert "centre" in {m["name"] for m in mi.list_image_methods()}
    res = mi.attribute_image(clip, images[0], "a cat", method="centre", weight=2.0)
    assert res.patch_scores[g.rows // 2, g.cols // 2] == 2.0 and res.params == {"weight": 2.0}
    panel = mi.explain_prompts(clip, images[0], PROMPTS, method="centre", similarity=False)
    assert len(panel.maps) == 4 and calls == [(1, {"weight": 2.0})] + [(1, {"weight": 1.0})] * 4


def test_every_shipped_image_method_runs_through_its_own_entry(clip, images, monkeypatch):
    """No method is special-cased in the API: swapping an entry's function (or its shared-pass
    form) changes what `attribute_image` (or `explain_prompts`) returns, with the entry's own
    default parameters."""
    g = clip.patch_grid
    for i, (name, entry) in enumerate(list(IMAGE_METHODS.items())):
        seen = []

        def own(query, params, progress, i=i, seen=seen):
            seen.append(params)
            patch = np.full((g.rows, g.cols), i + 1.0, np.float32)
            return MapOutput(patch, np.kron(patch, np.ones((g.patch_size,) * 2, np.float32)), 0.0)

        def own_pass(adapter, towers, encs, own=own):
            return [own(None, {}, None) for _ in encs]

        monkeypatch.setitem(IMAGE_METHODS, name, replace(
            entry, fn=own, from_pass=own_pass if entry.from_pass else None))
        res = mi.attribute_image(clip, images[0], "a cat", method=name)
        assert seen == [entry.resolve({})], name
        assert np.all(res.patch_scores == i + 1.0), name
        panel = mi.explain_prompts(clip, images[0], PROMPTS[:2], method=name, similarity=False)
        assert [float(m.patch_scores.max()) for m in panel.maps] == [i + 1.0] * 2, name
        monkeypatch.setitem(IMAGE_METHODS, name, entry)


@pytest.fixture(scope="module")
def hf32(tmp_path_factory):
    hf = mi.load(str(tiny_hf_clip_dir(tmp_path_factory)))
    assert hf.patch_grid.image_size == (32, 32)             # not mini-CLIP's 64 px
    return hf


@pytest.fixture(scope="module")
def scene():
    ex = mi.load_example(mi.list_examples()[0])              # a 64 px mini-CLIP scene
    assert ex.image.size == (64, 64) and ex.masks
    return ex


def test_a_64px_example_mask_points_on_a_32px_model(hf32, scene):
    g = hf32.patch_grid
    for prompt, mask in scene.masks.items():
        assert mask.shape == (64, 64)
        res = mi.attribute_image(hf32, scene.image, prompt, method="relevance", mask=mask)
        assert res.pointing_hit in (True, False)
        small = model_mask(mask, scene.image, g.image_size)                 # bool [32, 32]
        assert res.pointing_hit == pointing_hit(res.patch_scores, small, g)
        # The resized mask is the object's own: each model pixel is a 2x2 block of the scene.
        blocks = mask.reshape(32, 2, 32, 2).mean((1, 3))
        assert small.any() and (small == (blocks > 0.5)).mean() > 0.97
    # The map's peak patch, drawn as a mask at the scene's size, is a hit; everything but
    # that patch is a miss: the hit is decided where the model looked.
    res = mi.attribute_image(hf32, scene.image, next(iter(scene.masks)), method="relevance")
    r, c = np.unravel_index(int(np.argmax(res.patch_scores)), res.patch_scores.shape)
    side = 64 // g.rows                                                     # scene pixels per patch
    peak = np.zeros((64, 64), bool)
    peak[r * side:(r + 1) * side, c * side:(c + 1) * side] = True
    prompt = next(iter(scene.masks))
    assert mi.attribute_image(hf32, scene.image, prompt, mask=peak).pointing_hit is True
    assert mi.attribute_image(hf32, scene.image, prompt, mask=~peak).pointing_hit is False


def test_the_mask_is_cropped_like_the_image(hf32, scene):
    """A wide image is centre-cropped before the resize: the mask must lose the same sides."""
    prompt, mask = next(iter(scene.masks.items()))
    wide = np.pad(np.asarray(scene.image), ((0, 0), (16, 16), (0, 0)), constant_values=255)
    wide_mask = np.pad(mask, ((0, 0), (16, 16)))
    small = model_mask(mask, scene.image, hf32.patch_grid.image_size)
    np.testing.assert_array_equal(model_mask(wide_mask, Image.fromarray(wide), (32, 32)), small)
    a = mi.attribute_image(hf32, scene.image, prompt, method="similarity", mask=mask)
    b = mi.attribute_image(hf32, wide, prompt, method="similarity", mask=wide_mask)
    # The same square reaches the model (HF resizes before it crops: resampling differs a little).
    np.testing.assert_allclose(b.patch_scores, a.patch_scores, atol=1e-2)
    assert a.pointing_hit == b.pointing_hit
