"""The pointing game: hits by hand, the held-out scenes, scoring against each scene's own
mask, the relevance target on the shipped mini-CLIP, and the shipped table's recipe and
staleness."""
import json
import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from clip_tiny import tiny_miniclip  # noqa: E402

import mminspect as mi  # noqa: E402
from mminspect.api import examples  # noqa: E402
from mminspect.explain.image_methods import IMAGE_METHODS, MapOutput  # noqa: E402
from mminspect.explain.pointing import mask_patches, pointing_hit  # noqa: E402
from mminspect.lab import pointing as lab_pointing  # noqa: E402
from mminspect.lab.pointing import (POINTING_SEED, TARGETS, format_table, method_params,  # noqa: E402
                                    pointing_game, pointing_scenes)
from mminspect.models import miniclip_adapter  # noqa: E402
from mminspect.models.bundled import sources_sha256  # noqa: E402
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
    from mminspect.lab.miniclip_eval import EVAL_SEED
    from mminspect.lab.miniclip_train import TrainConfig
    assert POINTING_SEED not in (TrainConfig().data_seed, *range(EVAL_SEED, EVAL_SEED + 4))
    scenes = pointing_scenes(6)
    for image, prompt, mask in scenes:
        assert image.shape == (64, 64, 3) and mask.shape == (64, 64) and mask.any()
        colour = prompt.split()[1]
        # The named object's pixels hold its colour family: mean colour far from grey.
        px = image[mask].astype(float).mean(0)
        assert px.max() - px.min() > 60, (prompt, px)
        assert colour in {"red", "green", "blue", "yellow", "purple", "orange"}
    assert len({p for _, p, _ in scenes}) > 1


def test_the_game_scores_each_map_against_its_own_scenes_mask(monkeypatch):
    """Stand-in maps that peak on the named object (every scene a hit), on a patch the
    object does not touch (every scene a miss), or on the other object (a miss unless the two
    share a patch): the game must pair each map with its own scene's mask."""
    n = 8
    clip = tiny_miniclip()
    g = clip.patch_grid
    size = g.image_size[0]
    scenes = pointing_scenes(n, size=size)
    others = [(scene_mask, [m for m in _masks(i, size) if not np.array_equal(m, scene_mask)][0])
              for i, (_, _, scene_mask) in enumerate(scenes)]
    calls = []

    def fake_compute(adapter, pixels, encs, method, params):
        i = len(calls) // 3                                # three methods per scene, in order
        calls.append(method)
        named, other = others[i]
        if method == "relevance":
            target = mask_patches(named, g)
        elif method == "rollout":
            target = ~mask_patches(named, g)
        else:
            target = mask_patches(other, g)
        scores = np.where(target, 1.0, 0.0)                # [rows, cols]
        return MapOutput(scores, scores, 0.0)

    monkeypatch.setattr(lab_pointing, "compute", fake_compute)
    res = pointing_game(clip, n=n, methods=["relevance", "rollout", "similarity"])
    assert res["relevance"]["hit_rate"] == 1.0
    assert res["rollout"]["hit_rate"] == 0.0
    # energy: the stand-in maps are 1 on whole patches; inside-the-mask share by hand
    from mminspect.explain.pointing import mask_fraction
    on = [mask_fraction(m, g)[mask_patches(m, g)].sum() / mask_patches(m, g).sum()
          for _, _, m in scenes]
    assert res["relevance"]["energy"] == pytest.approx(np.mean(on))
    assert res["rollout"]["energy"] == 0.0                 # all its mass off the object
    assert res["energy_chance"] == pytest.approx(np.mean([m.mean() for _, _, m in scenes]))
    shared = np.mean([(mask_patches(a, g) & mask_patches(b, g)).any() for a, b in others])
    assert res["similarity"]["hit_rate"] == pytest.approx(shared)
    assert shared < 1.0                                     # some scenes keep the objects apart
    assert res["chance"] == pytest.approx(np.mean([mask_patches(m, g).mean() for _, _, m in scenes]))


def _masks(i, size):
    from mminspect.miniclip.scenes import scene
    return scene(POINTING_SEED, i, n_objects=2, size=size).masks


def test_every_method_runs_at_the_apps_defaults_unless_told_otherwise(monkeypatch):
    seen = {}
    real = lab_pointing.compute

    def spy(adapter, pixels, encs, method, params):
        seen.setdefault(method, params)
        return real(adapter, pixels, encs, method, params)

    monkeypatch.setattr(lab_pointing, "compute", spy)
    quick = {"integrated_gradients": {"n_steps": 4}, "gradient_shap": {"n_samples": 4}}
    res = pointing_game(tiny_miniclip(), n=2, params=quick)
    assert set(res) == set(IMAGE_METHODS) | {"chance", "energy_chance"}
    assert all(0 <= res[m]["energy"] <= 1 for m in IMAGE_METHODS)
    assert all(res[m]["n"] == 2 and res[m]["seconds"] > 0 for m in IMAGE_METHODS)
    assert seen["integrated_gradients"] == {"n_steps": 4}
    assert seen["gradient_shap"]["n_samples"] == 4
    assert seen["occlusion"] == IMAGE_METHODS["occlusion"].resolve({})     # untouched: defaults
    assert method_params(["integrated_gradients"]) == {"integrated_gradients": {"n_steps": 32}}
    assert "relevance" in format_table(res)


def test_relevance_points_at_the_named_object_on_the_shipped_miniclip():
    res = pointing_game(mi.load("miniclip"), n=60, methods=["relevance"])
    assert res["relevance"]["hit_rate"] >= TARGETS["relevance"], format_table(res)
    assert res["relevance"]["hit_rate"] > 2 * res["chance"]


def test_the_shipped_table_was_measured_as_the_app_runs_and_says_how():
    """A missing card or table fails here: the app and README show them."""
    card = json.loads((MINICLIP_DIR / CARD).read_text())
    rec = json.loads((MINICLIP_DIR / "pointing.json").read_text())
    methods = [m for m in rec["results"] if m not in lab_pointing.CHANCE_KEYS]
    assert set(methods) == set(IMAGE_METHODS)
    assert rec["params"] == method_params(methods)            # the defaults "Every method" runs
    assert rec["weights_sha256"] == card["weights"]["sha256"]
    assert all(rec["results"][m]["n"] == rec["n"] for m in methods)
    assert all(0 <= rec["results"][m]["energy"] <= 1 for m in methods)     # energy-in-mask too
    assert 0 < rec["results"]["energy_chance"] < rec["results"]["chance"]
    prov = rec["provenance"]
    assert rec["command"] == prov["command"] and rec["command"].startswith("python -m mminspect.lab.pointing")
    assert f"--n {rec['n']}" in rec["command"] and prov["argv"][1:] == rec["command"].split()[3:]
    assert prov["params"]["method_params"] == rec["params"]
    assert {"torch", "transformers", "captum", "numpy"} <= set(prov["packages"])
    assert "mminspect/lab/pointing.py" in prov["code"]["files"]
    assert "mminspect/explain/image_methods.py" in prov["code"]["files"]
    assert {"cpu_count", "torch_threads", "device", "platform"} <= set(prov["machine"])


def _record_in(tmp_path, monkeypatch, **changes) -> dict:
    """A table in a copy of assets/miniclip whose recorded code is tmp_path/code.py."""
    shutil.copy(MINICLIP_DIR / CARD, tmp_path / CARD)
    monkeypatch.setattr(miniclip_adapter, "MINICLIP_DIR", tmp_path)
    monkeypatch.setattr(examples, "CODE_ROOT", tmp_path)
    (tmp_path / "code.py").write_text("x = 1\n")
    combined, files = sources_sha256(tmp_path, ["code.py"])
    rec = {"model": "miniclip", "n": 4, "seed": 7, "command": "python -m mminspect.lab.pointing --n 4",
           "date": "2026-01-01T00:00:00+00:00", "params": {"integrated_gradients": {"n_steps": 32}},
           "weights_sha256": json.loads((tmp_path / CARD).read_text())["weights"]["sha256"],
           "results": {"relevance": {"hit_rate": 1.0, "n": 4, "seconds": 0.01}, "chance": 0.1},
           "provenance": {"code": {"files": files, "sha256": combined}}}
    rec.update(changes)
    (tmp_path / "pointing.json").write_text(json.dumps(rec))
    return rec


def test_pointing_results_is_current_only_for_the_same_weights_and_code(tmp_path, monkeypatch):
    _record_in(tmp_path, monkeypatch)
    out = mi.api.pointing_results()
    assert set(out) == {"model", "scenes", "results", "n", "seed", "command", "params", "current",
                        "stale_reason", "date"}
    assert out["current"] and out["stale_reason"] is None
    assert out["params"] == {"integrated_gradients": {"n_steps": 32}} and out["n"] == 4
    (tmp_path / "code.py").write_text("x = 2\n")                     # the code changed
    out = mi.api.pointing_results()
    assert not out["current"] and "code.py" in out["stale_reason"]
    assert "python -m mminspect.lab.pointing --n 4" in out["stale_reason"]


def test_pointing_results_is_stale_on_other_weights_or_without_a_code_hash(tmp_path, monkeypatch):
    _record_in(tmp_path, monkeypatch, weights_sha256="0" * 64)
    out = mi.api.pointing_results()
    assert not out["current"] and "other weights" in out["stale_reason"]
    _record_in(tmp_path, monkeypatch, provenance={})
    out = mi.api.pointing_results()
    assert not out["current"] and "no hash of the code" in out["stale_reason"]
    (tmp_path / "pointing.json").unlink()
    assert mi.api.pointing_results() is None


def test_provenance_keeps_the_command_as_given_and_refuses_code_that_changed_mid_run():
    from mminspect.lab.provenance import code_snapshot, provenance
    code = ("mminspect/lab/pointing.py", "mminspect/explain")
    prov = provenance("mminspect.lab.pointing", ["--n", "3", "--json", "a b.json"],
                      params={"n": 3}, code=code)
    assert prov["command"] == "python -m mminspect.lab.pointing --n 3 --json 'a b.json'"
    assert prov["params"] == {"n": 3} and set(prov["packages"]) >= {"torch", "captum", "gradio"}
    files = prov["code"]["files"]
    assert "mminspect/lab/pointing.py" in files and "mminspect/explain/pointing.py" in files
    assert not any(f.startswith("mminspect/models/") for f in files)     # only the given folders
    assert all(f in files for f in prov["code"]["changed_since_commit"])    # paths parsed whole
    start = code_snapshot(code)
    assert start["sha256"] == prov["code"]["sha256"]
    moved = {**start, "sha256": "0" * 64, "files": {**start["files"], "mminspect/explain/pointing.py": "x"}}
    with pytest.raises(RuntimeError, match="changed during the run.*explain/pointing.py"):
        provenance("mminspect.lab.pointing", [], params={}, code=code, at_start=moved)


def test_the_traced_sources_are_the_files_whose_functions_ran():
    from mminspect.lab.provenance import sources_that_run
    with sources_that_run(("mminspect/explain", "mminspect/models")) as files:
        mask_patches(np.ones((32, 32), bool), GRID)
    assert files == ["mminspect/explain/pointing.py"]       # imported modules that did not run: out
