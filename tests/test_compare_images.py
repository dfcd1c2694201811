"""Image pairs: a world scene without one object (pixel-exact elsewhere), and mi.compare on
two image–text views (identity, by-hand Jensen–Shannon, prompts that must match)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import rel_entr

import mminspect as mi
from mminspect.miniclip.world_pairs import without_object

PROMPTS = ["a red star", "a maple leaf", "an orange circle", "a helicopter"]


def test_a_removed_object_leaves_every_other_pixel_as_it_was():
    full, less, k = without_object(0, 1)
    gone = full.masks[k]                                             # [H, W]
    np.testing.assert_array_equal(full.image[~gone], less.image[~gone])
    assert (np.abs(full.image[gone].astype(int) - less.image[gone]).sum(-1) > 0).mean() > 0.9
    assert len(less.things) == len(full.things) - 1 and full.things[k] not in less.things
    # the painted pixels are background: close to the free pixels' colours, not the object's
    free = ~full.masks.any(0)
    dist = np.linalg.norm(less.image[gone][:, None].astype(float)
                          - full.image[free][None, ::25].astype(float), axis=-1).min(1)
    assert np.median(dist) < 25


def test_compare_of_a_clip_view_with_itself_is_zero():
    a, _, _ = mi.object_removed_pair(0, 1)
    view = mi.inspect_clip("miniclip2", a, PROMPTS, maps=True)
    diff = mi.compare(view, view)
    assert diff.kind == "image" and diff.head_js.max() == 0.0 and diff.prediction_delta == 0.0
    np.testing.assert_array_equal(diff.patch_a, diff.patch_b)


def test_two_models_on_one_scene_by_hand():
    a, _, _ = mi.object_removed_pair(0, 1)
    diff = mi.compare_images("miniclip", a, PROMPTS, model_b="miniclip2", maps=False)
    wa, wb = diff.a.image_attention[0], diff.b.image_attention[0]     # [layer, head, q, k]
    m = (wa.astype(np.float64) + wb) / 2
    by_hand = 0.5 * rel_entr(wa.astype(np.float64), m).sum(-1) + 0.5 * rel_entr(wb.astype(np.float64), m).sum(-1)
    np.testing.assert_allclose(diff.head_js, by_hand.mean(-1), rtol=1e-4, atol=1e-7)
    assert diff.patch_a is None and diff.alignment.n_edits == 0
    assert diff.prediction[0].startswith(f"P({diff.a.prompts[int(diff.a.probs[0].argmax())]})")


def test_removing_an_object_lowers_its_own_prompt_on_mini_clip_2():
    a, b, name = mi.object_removed_pair(0, 1)
    assert name == "red star"
    diff = mi.compare_images("miniclip2", a, PROMPTS, image_b=b)
    pa, pb = diff.a.probs[0], diff.b.probs[0]
    assert pb[0] <= pa[0]                                           # "a red star" is gone
    assert diff.patch_a.shape == (4, diff.a.grid_rows, diff.a.grid_cols)


def test_views_of_different_prompts_are_refused():
    a, _, _ = mi.object_removed_pair(0, 1)
    v1 = mi.inspect_clip("miniclip2", a, PROMPTS[:2])
    v2 = mi.inspect_clip("miniclip2", a, PROMPTS[1:3])
    with pytest.raises(mi.InputError, match="same prompts"):
        mi.compare(v1, v2)
