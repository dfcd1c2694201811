"""The pointing game: hits by hand, the held-out scenes, and the relevance target on the
shipped mini-CLIP (skipped, with the reason, until its weights are in assets/miniclip)."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from clip_tiny import tiny_miniclip  # noqa: E402

from mminspect.explain.pointing import (POINTING_SEED, TARGETS, format_table, mask_patches,  # noqa: E402
                                        pointing_game, pointing_hit, pointing_scenes)
from mminspect.models.clip_base import PatchGrid  # noqa: E402
from mminspect.models.miniclip_adapter import CARD, MINICLIP_DIR  # noqa: E402

GRID = PatchGrid(rows=4, cols=4, patch_size=8, image_size=(32, 32))


def test_a_hit_is_the_peak_patch_touching_the_mask():
    mask = np.zeros((32, 32), bool)
    mask[17, 9] = True                                   # one pixel in patch (2, 1)
    assert mask_patches(mask, GRID).sum() == 1 and mask_patches(mask, GRID)[2, 1]
    scores = np.zeros((4, 4))
    scores[2, 1] = 1.0
    assert pointing_hit(scores, mask, GRID)
    scores[0, 3] = 2.0                                   # a higher peak elsewhere: a miss
    assert not pointing_hit(scores, mask, GRID)


def test_pointing_scenes_are_held_out_two_object_scenes_naming_one_object():
    from mminspect.miniclip.eval import EVAL_SEED
    from mminspect.miniclip.train import TrainConfig
    assert POINTING_SEED not in (TrainConfig().data_seed, EVAL_SEED, EVAL_SEED + 1, EVAL_SEED + 2)
    scenes = pointing_scenes(6)
    for image, prompt, mask in scenes:
        assert image.shape == (64, 64, 3) and mask.shape == (64, 64) and mask.any()
        colour = prompt.split()[1]
        # The named object's pixels hold its colour family: mean colour far from grey.
        px = image[mask].astype(float).mean(0)
        assert px.max() - px.min() > 60, (prompt, px)
        assert colour in {"red", "green", "blue", "yellow", "purple", "orange"}
    assert len({p for _, p, _ in scenes}) > 1


def test_pointing_game_runs_every_method_on_a_small_set():
    res = pointing_game(tiny_miniclip(), n=4, params={"integrated_gradients": {"n_steps": 4},
                                                       "gradient_shap": {"n_samples": 4}})
    assert 0 < res["chance"] < 0.5
    for m in ("relevance", "rollout", "raw_attention", "similarity", "integrated_gradients",
              "occlusion", "gradient_shap"):
        assert res[m]["n"] == 4 and res[m]["hit_rate"] in (0, 0.25, 0.5, 0.75, 1.0)
    assert "relevance" in format_table(res)


@pytest.mark.skipif(not (MINICLIP_DIR / CARD).is_file(),
                    reason="mini-CLIP weights not shipped yet (assets/miniclip)")
def test_relevance_points_at_the_named_object_on_the_shipped_miniclip():
    from mminspect.models import load
    res = pointing_game(load("miniclip"), n=60, methods=["relevance"])
    assert res["relevance"]["hit_rate"] >= TARGETS["relevance"], format_table(res)
    assert res["relevance"]["hit_rate"] > 2 * res["chance"]
