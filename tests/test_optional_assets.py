"""A missing optional asset turns off only what needs it, with a message: the app still
builds and serves the rest (checked in a child process, with MMINSPECT_ASSETS pointing at a
copy of the assets that lacks them)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REMOVED = ("miniclip2/examples.npz", "miniclip2/pointing.json", "sanity/sanity.json")

CHILD = """
import json
from mminspect.ui import build_app
from mminspect.api.examples import list_examples
from mminspect.models.assets import MISSING
demo = build_app()
print(json.dumps({"fns": len(demo.fns), "examples": list_examples(), "missing": MISSING}))
"""


def run_child(assets: Path | None) -> tuple[dict, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("MMINSPECT_ASSETS", None)
    if assets is not None:
        env["MMINSPECT_ASSETS"] = str(assets)
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env,
                         cwd=str(ROOT), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def test_the_app_builds_without_its_optional_assets_and_says_what_is_off(tmp_path):
    copy = tmp_path / "assets"
    shutil.copytree(ROOT / "assets", copy)
    for name in REMOVED:
        (copy / name).unlink()
    full, _ = run_child(None)
    lacking, log = run_child(copy)
    assert lacking["fns"] == full["fns"]                      # every event is still there
    lost = set(full["examples"]) - set(lacking["examples"])
    assert lost and all(t.startswith("mini-CLIP 2") for t in lost), lost
    assert set(lacking["examples"]) < set(full["examples"])   # the other examples stay
    assert lacking["missing"] == {"miniclip2/examples.npz": "mini-CLIP 2's example scenes"}
    assert "mini-CLIP 2's example scenes are off: examples.npz missing" in log


CHILD_NO_CARD = """
import json
from mminspect import api
from mminspect.types import ModelLoadError
from mminspect.ui import build_app
demo = build_app()
view = api.inspect_text(api.load("minilm"), "The cat sat.")
try:
    api.load("miniclip2")
    loaded = "loaded"
except ModelLoadError as e:
    loaded = str(e)
print(json.dumps({"fns": len(demo.fns), "tokens": len(view.tokens), "load": loaded,
                  "pointing": api.pointing_results("miniclip2", wait=False)["stale_reason"],
                  "other": api.pointing_results("miniclip", wait=False)["stale_reason"] or ""}))
"""


def test_a_missing_model_card_turns_off_that_model_only(tmp_path):
    """mini-CLIP 2's card.json gone: the app still starts, MiniLM still answers, loading
    mini-CLIP 2 says what is missing and how to restore it, and its shipped table reads as
    stale for that reason (it used to stop the app at start)."""
    copy = tmp_path / "assets"
    shutil.copytree(ROOT / "assets", copy)
    (copy / "miniclip2" / "card.json").unlink()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MMINSPECT_ASSETS": str(copy)}
    out = subprocess.run([sys.executable, "-c", CHILD_NO_CARD], capture_output=True, text=True,
                         env=env, cwd=str(ROOT), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    full, _ = run_child(None)
    assert rec["fns"] == full["fns"] and rec["tokens"] > 3
    assert "model card" in rec["load"] and "missing or unreadable" in rec["load"]
    assert "git checkout -- " in rec["load"] and "miniclip2_train" in rec["load"]
    assert "model card cannot be read" in rec["pointing"]
    assert "model card" not in rec["other"]           # mini-CLIP 1's table is not affected
