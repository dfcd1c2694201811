"""Image sets, every per-row number against the single-input API: each row's deletion /
insertion areas over patches equal `mi.attribute_image(..., faithfulness=True)`, its head
scan equals `mi.head_importance(image=, prompts=, prompt=)`, on both mini-CLIPs' bundled
scenes; the aggregates (bootstrap means, head mean / spread) are recomputed by hand; a zip
of the same files gives the same table, and a zip that leads outside its folder is refused."""
import io
import math
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import mminspect as mi
from mminspect.api.dataset_image_stats import image_summary
from mminspect.types import InputError

N = 5                                   # rows per set: every number checked, one by one


from test_dataset_images import one_thread  # noqa: F401  (autouse: one torch thread)


def _subset(tmp_path, name: str, n: int = N):
    folder = mi.load_dataset_sample(name)
    rows = pd.read_csv(folder / "images.csv", dtype=str, keep_default_na=False).head(n)
    for f in list(rows["file"]) + list(rows["mask"]):
        (tmp_path / f).write_bytes((folder / f).read_bytes())
    rows.to_csv(tmp_path / "images.csv", index=False)
    return tmp_path, rows


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data, rows = _subset(tmp_path_factory.mktemp("world"), "scenes")
    table = mi.explain_dataset("miniclip2", data, methods=["relevance", "legrad"],
                               budget_s=math.inf, batch_size=3)
    return data, rows, table


def _check_rows(model, data, table, methods):
    labels = sorted(set(table["label"]))
    for _, r in table.iterrows():
        assert r["ok"], r["notes"]
        image = Image.open(data / r["file"])
        mask = np.asarray(Image.open(data / r["mask"])) > 127
        for m in methods:
            one = mi.attribute_image(model, image, r["prompt"], m, mask=mask, faithfulness=True)
            f = one.faithfulness
            assert r[f"{m}.deletion_area"] == pytest.approx(f.deletion_area, rel=1e-6, abs=1e-6)
            assert r[f"{m}.insertion_area"] == pytest.approx(f.insertion_area, rel=1e-6,
                                                             abs=1e-6)
            assert r[f"{m}.pointing_hit"] == float(one.pointing_hit)
            assert r[f"{m}.energy_in_mask"] == pytest.approx(one.energy_in_mask, abs=1e-7)
        scan = mi.head_importance(model, image=image, prompts=labels, prompt=r["prompt"])
        got = np.asarray([np.asarray(x) for x in r["head_importance"]])       # [layer, head]
        assert got.shape == scan.delta.shape
        np.testing.assert_allclose(got, scan.delta, rtol=1e-5, atol=1e-7)


def test_world_rows_equal_the_single_input_api(world):
    data, _, table = world
    _check_rows("miniclip2", data, table, ["relevance", "legrad"])


def test_flat_rows_equal_the_single_input_api(tmp_path):
    data, _ = _subset(tmp_path, "scenes_flat", 3)
    table = mi.explain_dataset("miniclip", data, methods=["relevance"], budget_s=math.inf)
    _check_rows("miniclip", data, table, ["relevance"])


def test_aggregates_are_the_bootstrap_means_and_the_head_grid(world):
    _, _, table = world
    s = image_summary(table, n_boot=200, seed=3)
    fig = s.figures.set_index(["method", "metric"])
    for m in ("relevance", "legrad"):
        for metric in ("deletion_area", "insertion_area", "energy_in_mask"):
            v = table[f"{m}.{metric}"].to_numpy(np.float64)
            rng = np.random.default_rng(3)
            means = v[rng.integers(0, v.size, size=(200, v.size))].mean(axis=1)
            line = fig.loc[(m, metric)]
            assert line["mean"] == pytest.approx(v.mean(), abs=1e-12)
            assert line["low"] == pytest.approx(np.quantile(means, 0.025), abs=1e-12)
            assert line["high"] == pytest.approx(np.quantile(means, 0.975), abs=1e-12)
    grids = np.stack([np.asarray([np.asarray(x) for x in g]) for g in table["head_importance"]])
    np.testing.assert_allclose(s.heads_mean, grids.mean(0), atol=1e-15)
    np.testing.assert_allclose(s.heads_std, grids.std(0), atol=1e-15)
    assert s.heads_std.max() > 0                     # the rows do differ


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_a_zip_gives_the_folders_table_and_streams_to_parquet(world, tmp_path):
    data, rows, table = world
    names = ["images.csv"] + list(rows["file"]) + list(rows["mask"])
    raw = _zip({f"set/{n}": (data / n).read_bytes() for n in names})   # inside one folder
    out = tmp_path / "t.parquet"
    got = mi.explain_dataset("miniclip2", raw, methods=["relevance", "legrad"],
                             budget_s=math.inf, batch_size=2, out=out)
    back = pd.read_parquet(out)
    for t in (got, back):
        assert t["prediction"].tolist() == table["prediction"].tolist()
        for col in ("relevance.deletion_area", "legrad.insertion_area", "relevance.energy_in_mask"):
            np.testing.assert_allclose(t[col], table[col], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name, message", [("../evil.csv", "outside"),
                                           ("/abs/images.csv", "outside"),
                                           ("set/readme.txt", "no images.csv")])
def test_a_bad_zip_is_refused_before_any_work(name, message):
    with pytest.raises(InputError, match=message):
        mi.explain_dataset("miniclip2", _zip({name: b"x"}), budget_s=math.inf)
    with pytest.raises(InputError, match="not a zip"):
        mi.explain_dataset("miniclip2", b"file,prompt\n", budget_s=math.inf)


def test_one_prompt_gets_no_head_scan_and_says_why(world, tmp_path):
    data, rows, _ = world
    one = rows.head(2).assign(prompt=rows["prompt"][0], label="")
    for f in list(one["file"]) + list(one["mask"]):
        (tmp_path / f).write_bytes((data / f).read_bytes())
    one.to_csv(tmp_path / "images.csv", index=False)
    t = mi.explain_dataset("miniclip2", tmp_path, methods=["relevance"], budget_s=math.inf,
                           faithfulness=False)
    assert t["ok"].all() and t["head_importance"].isna().all()
    assert t["relevance.deletion_area"].isna().all()
    assert all("No head scan" in n for n in t["notes"])


def test_more_labels_than_one_call_compares_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("MMINSPECT_MAX_LABELS", "200")      # a host that allows more labels
    rows = pd.DataFrame({"file": [f"x{i}.png" for i in range(51)],     # no file exists
                         "prompt": [f"thing {i}" for i in range(51)],
                         "label": [f"thing {i}" for i in range(51)]})
    rows.to_csv(tmp_path / "images.csv", index=False)
    with pytest.raises(InputError, match="51 distinct labels"):
        mi.explain_dataset("miniclip2", tmp_path, budget_s=math.inf)
    rows.drop(columns="label").to_csv(tmp_path / "images.csv", index=False)
    with pytest.raises(InputError, match="heads=False"):
        mi.explain_dataset("miniclip2", tmp_path, budget_s=math.inf)
    t = mi.explain_dataset("miniclip2", tmp_path, budget_s=math.inf, heads=False)
    assert (~t["ok"]).all() and t["notes"].str.contains("no image file").all()
