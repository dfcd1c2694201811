"""Dataset mode on a folder of images: the bundled mini-CLIP 2 scene set is the pointing
game's scenes (checked pixel by pixel), its aggregates equal lab/pointing.py's own loop, each
row equals the single-input API, and bad rows are kept with the reason."""
import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import mminspect as mi
from mminspect.lab.pointing import POINTING_SEED, pointing_game, pointing_scenes
from mminspect.lab.scene_set import N_SCENES, SIZE
from mminspect.models import load
from mminspect.types import InputError

METHODS = ["relevance", "legrad"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def folder():
    return mi.load_dataset_sample("scenes")


@pytest.fixture(scope="module")
def table(folder):
    # one batch of 40: the predictions go to inspect_clip in pieces of its 16-image limit
    return mi.explain_dataset("miniclip2", folder, methods=METHODS, budget_s=math.inf,
                              batch_size=40, faithfulness=False, heads=False)


@pytest.mark.parametrize("name, world", [("scenes", True), ("scenes_flat", False)])
def test_the_bundled_scenes_are_the_pointing_games(name, world):
    folder = mi.load_dataset_sample(name)
    rows = pd.read_csv(folder / "images.csv", dtype=str, keep_default_na=False)
    assert len(rows) == N_SCENES
    for (image, prompt, mask), (_, r) in zip(pointing_scenes(N_SCENES, POINTING_SEED, SIZE,
                                                             world=world), rows.iterrows()):
        assert np.array_equal(np.asarray(Image.open(folder / r["file"])), image)
        assert np.array_equal(np.asarray(Image.open(folder / r["mask"])) > 127, mask)
        assert r["prompt"] == prompt == r["label"]


def test_hit_rate_and_energy_equal_the_pointing_game(table):
    game = pointing_game(load("miniclip2"), n=N_SCENES, methods=METHODS, seed=POINTING_SEED,
                         world=True)
    summary = mi.summarize_image_dataset(table).set_index(["method", "metric"])
    assert table["ok"].all() and len(table) == N_SCENES
    for m in METHODS:
        hit = summary.loc[(m, "pointing_hit")]
        assert hit["mean"] == pytest.approx(game[m]["hit_rate"], abs=1e-12)
        assert summary.loc[(m, "energy_in_mask"), "mean"] == pytest.approx(game[m]["energy"],
                                                                           abs=1e-9)
        assert hit["chance"] == pytest.approx(game["chance"], abs=1e-12)
        # the interval, recomputed: resample the 0/1 hits with the same seeded generator
        v = table[f"{m}.pointing_hit"].to_numpy()
        rng = np.random.default_rng(0)
        means = [v[rng.integers(0, v.size, v.size)].mean() for _ in range(1000)]
        assert hit["low"] <= hit["mean"] <= hit["high"]
        assert abs(hit["low"] - np.percentile(means, 2.5)) <= 1 / v.size + 1e-12
        assert abs(hit["high"] - np.percentile(means, 97.5)) <= 1 / v.size + 1e-12


def test_mini_clip_1s_flat_scenes_equal_its_pointing_game():
    table = mi.explain_dataset("miniclip", mi.load_dataset_sample("scenes_flat"),
                               methods=["relevance"], budget_s=math.inf, batch_size=40,
                               faithfulness=False, heads=False)
    game = pointing_game(load("miniclip"), n=N_SCENES, methods=["relevance"],
                         seed=POINTING_SEED, world=False)
    s = mi.summarize_image_dataset(table).set_index(["method", "metric"])
    assert s.loc[("relevance", "pointing_hit"), "mean"] == pytest.approx(
        game["relevance"]["hit_rate"], abs=1e-12)
    assert s.loc[("relevance", "energy_in_mask"), "mean"] == pytest.approx(
        game["relevance"]["energy"], abs=1e-9)


def test_a_row_equals_the_single_input_api(table, folder):
    r = table.iloc[3]
    image = Image.open(folder / r["file"])
    mask = np.asarray(Image.open(folder / r["mask"])) > 127
    labels = sorted(set(table["label"]))
    probs = mi.inspect_clip("miniclip2", image, labels).probs[0]
    assert r["prediction"] == labels[int(np.argmax(probs))]
    assert r["correct"] == (r["prediction"] == r["label"])
    for m in METHODS:
        res = mi.attribute_image("miniclip2", image, r["prompt"], m, mask=mask)
        assert np.allclose(r[f"{m}.patch_scores"], np.asarray(res.patch_scores).ravel(),
                           atol=1e-6)
        assert r[f"{m}.pointing_hit"] == float(res.pointing_hit)
        assert r[f"{m}.energy_in_mask"] == pytest.approx(res.energy_in_mask, abs=1e-9)


def test_bad_rows_are_kept_with_the_reason(tmp_path, folder):
    for name in ("scene_000.png", "mask_000.png"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    (tmp_path / "broken.png").write_bytes(b"not an image")
    Image.new("L", (10, 10)).save(tmp_path / "small_mask.png")
    rows = pd.DataFrame({
        "file": ["scene_000.png", "gone.png", "broken.png", "scene_000.png", "../x.png",
                 "scene_000.png"],
        "caption": ["a bee"] * 6, "label": ["a bee", "a bee", "a bee", "a cat", "a cat", "a cat"],
        "mask": ["mask_000.png", "", "", "small_mask.png", "", ""]})
    rows.to_csv(tmp_path / "images.csv", index=False)
    t = mi.explain_dataset("miniclip2", tmp_path / "images.csv", methods=["relevance"],
                           budget_s=math.inf, faithfulness=False)
    assert list(t["ok"]) == [True, False, False, False, False, True]
    assert "gone.png" in t["notes"][1] and "cannot be read" in t["notes"][2]
    assert "mask" in t["notes"][3] and "outside" in t["notes"][4]
    assert math.isnan(t["relevance.pointing_hit"][5])            # no mask, no pointing
    assert t["relevance.pointing_hit"][0] in (0.0, 1.0)
    s = mi.summarize_image_dataset(t).set_index(["method", "metric"])
    assert s.loc[("relevance", "pointing_hit"), "n"] == 1
    assert s.loc[("", "accuracy"), "n"] == 2


def test_refusals(tmp_path):
    pd.DataFrame({"image": ["a.png"]}).to_csv(tmp_path / "images.csv", index=False)
    with pytest.raises(InputError, match="file and prompt"):
        mi.explain_dataset("miniclip2", tmp_path)
    with pytest.raises(InputError, match="No .*images.csv"):
        mi.explain_dataset("miniclip2", tmp_path / "nothing")
    with pytest.raises(InputError, match="Unknown backend"):
        mi.explain_dataset("miniclip2", tmp_path, backend="dask")


def _small_set(tmp_path, folder, n=6):
    rows = pd.read_csv(folder / "images.csv", dtype=str, keep_default_na=False).head(n)
    for name in list(rows["file"]) + list(rows["mask"]):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    rows.loc[1, "mask"] = ""                                  # a row without a mask
    rows.loc[2, "file"] = "gone.png"                          # and one that cannot be read
    rows.to_csv(tmp_path / "images.csv", index=False)
    return tmp_path


@pytest.mark.slow                            # Ray's start-up alone is ~5-15 s on 2 cores
def test_ray_gives_the_local_table(tmp_path, folder):
    ray = pytest.importorskip("ray")
    data = _small_set(tmp_path, folder)
    local = mi.explain_dataset("miniclip2", data, methods=METHODS, budget_s=math.inf,
                               batch_size=6)
    try:
        got = mi.explain_dataset("miniclip2", data, methods=METHODS, budget_s=math.inf,
                                 batch_size=4, backend="ray")
    finally:
        ray.shutdown()
    assert got["ok"].tolist() == local["ok"].tolist() == [True, True, False, True, True, True]
    ok = local["ok"].to_numpy()
    assert got["prediction"][ok].tolist() == local["prediction"][ok].tolist()
    assert got["prediction"][~ok].isna().all() and local["prediction"][~ok].isna().all()
    for m in METHODS:
        a = np.stack(local[f"{m}.patch_scores"][ok])
        b = np.stack(got[f"{m}.patch_scores"][ok])
        assert np.max(np.abs(a - b)) <= 1e-6
        for col in (f"{m}.pointing_hit", f"{m}.energy_in_mask", f"{m}.target_value",
                    f"{m}.deletion_area", f"{m}.insertion_area"):
            assert np.allclose(local[col], got[col], atol=1e-6, equal_nan=True), col
    assert np.allclose(local["score"], got["score"], atol=1e-6, equal_nan=True)
    heads = [np.stack([np.asarray([np.asarray(r) for r in g]) for g in t["head_importance"][ok]])
             for t in (local, got)]                                    # [row, layer, head]
    assert heads[0].shape[0] == ok.sum() and np.max(np.abs(heads[0] - heads[1])) <= 1e-6


def _copy_rows(tmp_path, folder, n):
    rows = pd.read_csv(folder / "images.csv", dtype=str, keep_default_na=False).head(n)
    for name in list(rows["file"]) + list(rows["mask"]):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    rows.to_csv(tmp_path / "images.csv", index=False)
    return tmp_path


def test_the_command_line_writes_the_table_and_pointing(tmp_path, folder, table, capsys):
    from mminspect.cli import main
    out = tmp_path / "r"
    (tmp_path / "in").mkdir()
    data = _copy_rows(tmp_path / "in", folder, 4)
    assert main(["dataset", str(data), "--model", "miniclip2", "--methods", "relevance",
                 "--out", str(out), "--quiet", "--no-heads"]) == 0
    written = pd.read_parquet(out / "table.parquet")
    assert np.allclose(np.stack(written["relevance.patch_scores"]),
                       np.stack(table["relevance.patch_scores"][:4]), atol=1e-6)
    assert written["relevance.deletion_area"].notna().all()     # faithfulness by default
    pointing = pd.read_csv(out / "pointing.csv")
    hit = pointing[(pointing["method"] == "relevance") & (pointing["metric"] == "pointing_hit")]
    assert hit["mean"].item() == pytest.approx(written["relevance.pointing_hit"].mean())
