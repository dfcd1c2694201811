"""A shipped table goes stale when its figures would change, not when a source file's bytes
change: after a byte change its recorded probe runs again, and only a moved figure makes it
stale (api.shipped, one implementation for the pointing and sanity tables)."""
from __future__ import annotations

import json
import shutil

import pytest

from mminspect.api import examples, shipped, trust_shipped
from mminspect.models import miniclip_adapter
from mminspect.models.bundled import sources_sha256
from mminspect.models.miniclip_adapter import CARD, MINICLIP_DIR

FIGURES = {"saliency": [0.25, 1.0, 3.0]}


@pytest.fixture
def probe(monkeypatch, tmp_path):
    """A cheap probe kind "toy" whose figures a test sets; counts its runs; no disk cache."""
    state = {"figures": FIGURES, "runs": 0}

    def run():
        state["runs"] += 1
        return state["figures"]

    monkeypatch.setitem(shipped.PROBES, "toy", run)
    monkeypatch.setattr(shipped, "_RUN", {})
    monkeypatch.setenv("MMINSPECT_PROBE_CACHE", str(tmp_path / "cache"))
    return state


def _code(root) -> dict:
    (root / "code.py").write_text("x = 1\n")
    combined, files = sources_sha256(root, ["code.py"])
    return {"files": files, "sha256": combined}


def _sanity(tmp_path, monkeypatch, **changes) -> str:
    monkeypatch.setattr(trust_shipped, "CODE_ROOT", tmp_path)
    rec = {"command": "python -m mminspect.lab.sanity_table", "weights_sha256": trust_shipped.bundled_weights(),
           "results": {}, "provenance": {"code": _code(tmp_path)},
           "probe": {"kind": "toy", "figures": FIGURES}, **changes}
    (tmp_path / "sanity.json").write_text(json.dumps(rec))
    return str(tmp_path / "sanity.json")


def test_unchanged_bytes_are_current_without_running_the_probe(tmp_path, monkeypatch, probe):
    rec = trust_shipped.shipped_sanity(_sanity(tmp_path, monkeypatch))
    assert rec["current"] and rec["stale_reason"] is None and probe["runs"] == 0


def test_a_change_that_keeps_every_figure_is_still_current(tmp_path, monkeypatch, probe):
    path = _sanity(tmp_path, monkeypatch)
    (tmp_path / "code.py").write_text("x = 1  # a comment, a refactor\n")
    rec = trust_shipped.shipped_sanity(path)
    assert rec["current"] and rec["stale_reason"] is None and probe["runs"] == 1
    probe["figures"] = {"saliency": [0.25 + 1e-7, 1.0, 3.0]}     # float noise is no change
    monkeypatch.setattr(shipped, "_RUN", {})
    shutil.rmtree(tmp_path / "cache")
    assert trust_shipped.shipped_sanity(path)["current"]


def test_a_moved_figure_makes_it_stale_and_names_the_figure_and_the_command(
        tmp_path, monkeypatch, probe):
    path = _sanity(tmp_path, monkeypatch)
    (tmp_path / "code.py").write_text("x = 2\n")
    probe["figures"] = {"saliency": [0.5, 1.0, 3.0]}
    rec = trust_shipped.shipped_sanity(path)
    assert not rec["current"]
    assert "figures would change" in rec["stale_reason"] and "saliency" in rec["stale_reason"]
    assert "code.py" in rec["stale_reason"] and "mminspect.lab.sanity_table" in rec["stale_reason"]


def test_the_probe_runs_once_per_code_version_across_processes(tmp_path, monkeypatch, probe):
    path = _sanity(tmp_path, monkeypatch)
    (tmp_path / "code.py").write_text("x = 1  # edited\n")
    assert trust_shipped.shipped_sanity(path)["current"] and probe["runs"] == 1
    monkeypatch.setattr(shipped, "_RUN", {})                       # a new process
    assert trust_shipped.shipped_sanity(path)["current"] and probe["runs"] == 1   # from the disk cache
    (tmp_path / "code.py").write_text("x = 1  # edited again\n")       # another version
    monkeypatch.setattr(shipped, "_RUN", {})
    assert trust_shipped.shipped_sanity(path)["current"] and probe["runs"] == 2


def test_a_probe_that_cannot_run_leaves_the_byte_rule_and_is_tried_again(
        tmp_path, monkeypatch, probe):
    path = _sanity(tmp_path, monkeypatch)
    (tmp_path / "code.py").write_text("x = 1  # edited\n")

    def busy():
        raise RuntimeError("over the time budget")
    monkeypatch.setitem(shipped.PROBES, "toy", busy)
    rec = trust_shipped.shipped_sanity(path)
    assert not rec["current"] and "could not be re-checked" in rec["stale_reason"]
    assert "code.py" in rec["stale_reason"]
    monkeypatch.setitem(shipped.PROBES, "toy", lambda: FIGURES)          # the machine is free
    assert trust_shipped.shipped_sanity(path)["current"]


def test_a_page_never_waits_the_probe_runs_in_the_background(tmp_path, monkeypatch, probe):
    import threading
    path = _sanity(tmp_path, monkeypatch)
    (tmp_path / "code.py").write_text("x = 1  # edited\n")
    release = threading.Event()

    def slow():
        release.wait(30)
        return FIGURES
    monkeypatch.setitem(shipped.PROBES, "toy", slow)
    rec = trust_shipped.shipped_sanity(path, wait=False)                     # answers at once
    assert not rec["current"] and "being re-checked" in rec["stale_reason"]
    release.set()
    shipped._PENDING["toy"].join(30)
    assert trust_shipped.shipped_sanity(path, wait=False)["current"]          # the outcome, next time


def test_the_background_probe_uses_its_own_models_one_thread_and_the_lowest_priority(
        tmp_path, monkeypatch, probe):
    """The probe runs attribution hooks: on the models visitors' events use, a concurrent
    Inspect would see them; at normal priority it would compete with the first page."""
    import os
    import threading

    import torch

    from mminspect.models.registry import current_lane
    seen = {}

    def spy():
        seen.update(lane=current_lane(), threads=torch.get_num_threads(),
                    nice=os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return FIGURES
    monkeypatch.setitem(shipped.PROBES, "toy", spy)
    path = _sanity(tmp_path, monkeypatch)
    (tmp_path / "code.py").write_text("x = 1  # edited\n")
    trust_shipped.shipped_sanity(path, wait=False)
    shipped._PENDING["toy"].join(30)
    assert seen == {"lane": shipped.PROBE_LANE, "threads": 1, "nice": 19}
    assert current_lane() != shipped.PROBE_LANE        # the caller's lane is untouched


def test_without_a_probe_a_byte_change_is_stale(tmp_path, monkeypatch, probe):
    path = _sanity(tmp_path, monkeypatch, probe=None)
    (tmp_path / "code.py").write_text("x = 1  # edited\n")
    rec = trust_shipped.shipped_sanity(path)
    assert not rec["current"] and "code.py" in rec["stale_reason"] and probe["runs"] == 0


def test_the_pointing_table_uses_the_same_rule(tmp_path, monkeypatch, probe):
    shutil.copy(MINICLIP_DIR / CARD, tmp_path / CARD)
    monkeypatch.setattr(miniclip_adapter, "MINICLIP_DIR", tmp_path)
    monkeypatch.setattr(examples, "CODE_ROOT", tmp_path)
    rec = {"model": "miniclip", "command": "python -m mminspect.lab.pointing",
           "weights_sha256": json.loads((tmp_path / CARD).read_text())["weights"]["sha256"],
           "results": {"relevance": {"hit_rate": 1.0}, "chance": 0.1},
           "provenance": {"code": _code(tmp_path)}, "probe": {"kind": "toy", "figures": FIGURES}}
    (tmp_path / "pointing.json").write_text(json.dumps(rec))
    (tmp_path / "code.py").write_text("x = 1  # edited\n")
    assert examples.pointing_results("miniclip")["current"]
    probe["figures"] = {"saliency": [9.0, 1.0, 3.0]}
    monkeypatch.setattr(shipped, "_RUN", {})
    shutil.rmtree(tmp_path / "cache")                                   # no result kept
    out = examples.pointing_results("miniclip")
    assert not out["current"] and "figures would change" in out["stale_reason"]


def test_every_shipped_table_records_a_probe_of_every_method_it_measured():
    """The probes registered by the modules that own the tables, recorded in the shipped
    files for every method the table has a row of (so a refactor does not make them stale)."""
    from mminspect.models.registry import scene_models
    for model in scene_models():
        rec = json.loads((miniclip_adapter.bundled_dir(f"bundled:{model}") / "pointing.json").read_text())
        assert rec["probe"]["kind"] == f"pointing:{model}" and rec["probe"]["kind"] in shipped.PROBES
        measured = {m for m, row in rec["results"].items() if isinstance(row, dict)}
        assert measured and set(rec["probe"]["figures"]) == measured
    rec = json.loads(trust_shipped.SANITY_TABLE.read_text())
    assert rec["probe"]["kind"] == "sanity" and "sanity" in shipped.PROBES
    figures = set(rec["probe"]["figures"])
    assert {k for k in figures if "/cascade:" not in k} == {
        f"{model}/{m}" for model, rows in rec["results"].items() for m in rows}
    assert {k.split("/")[0] for k in figures if "/cascade:" in k} == set(rec["results"])
