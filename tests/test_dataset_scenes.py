"""The whole run's pieces on a few scenes: lab/dataset_scenes writes the pointing game's
scenes, explains them with relevance and the dense maps, and each scene's hit and energy
equal the pointing game's own per-scene computation (lab/pointing.py: the same scene, the
same map function, the same pointing functions) to the last bit; compare() against the
game's table for those scenes gives 0."""
import numpy as np
import pytest

from mminspect.explain.image_methods import compute
from mminspect.explain.pointing import energy_in_mask, pointing_hit
from mminspect.lab import dataset_scenes
from mminspect.lab.pointing import POINTING_SEED, method_params, pointing_game, pointing_scenes
from mminspect.models import load


from test_dataset_images import one_thread  # noqa: F401  (autouse: one torch thread)


@pytest.mark.parametrize("model, world, n", [("miniclip2", True, 6), ("miniclip", False, 4)])
def test_each_scene_equals_the_pointing_games_own(tmp_path, model, world, n):
    methods = list(dataset_scenes.METHODS)
    f = dataset_scenes.run(model, n, tmp_path, methods, batch_size=4)
    assert f["ok_rows"] == n and f["comparison"] is None        # fewer than the shipped 200
    import pandas as pd
    table = pd.read_parquet(tmp_path / "results" / "table.parquet")
    adapter = load(model)
    g = adapter.patch_grid
    used = method_params(methods)
    for i, (image, prompt, mask) in enumerate(pointing_scenes(n, POINTING_SEED, 64, world)):
        row = table[table["row"] == i].iloc[0]
        assert row["prompt"] == prompt
        pixels, enc = adapter.preprocess([image]), adapter.tokenize(prompt)
        for m in methods:
            out = compute(adapter, pixels, [enc], m, used[m])
            assert row[f"{m}.pointing_hit"] == float(pointing_hit(out.patch_scores, mask, g))
            assert row[f"{m}.energy_in_mask"] == float(energy_in_mask(out.patch_scores, mask, g))
            np.testing.assert_array_equal(np.asarray(row[f"{m}.patch_scores"]),
                                          out.patch_scores.astype(np.float64).ravel())
    game = pointing_game(adapter, n=n, methods=methods, seed=POINTING_SEED, world=world)
    diff = dataset_scenes.compare(table, game, n, methods)
    assert len(diff) == 2 * len(methods) + 2
    assert diff["diff"].abs().max() == 0.0


def test_compare_refuses_a_table_missing_rows(tmp_path):
    import pandas as pd
    table = pd.DataFrame({"row": [0, 1], "ok": [True, False]})
    with pytest.raises(ValueError, match="not all explained"):
        dataset_scenes.compare(table, {}, 2, ["relevance"])
