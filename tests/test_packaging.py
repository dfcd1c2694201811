"""`pip install .` gives a working library and `mminspect` command outside the checkout:
the package list and the pins agree with the source tree and requirements.txt, and an install
into a fresh virtual environment runs the CLI from another folder with the bundled assets."""
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_python_package_and_asset_folder_is_listed():
    found = {".".join(p.parent.relative_to(REPO).parts)
             for p in (REPO / "mminspect").rglob("__init__.py")}
    assets = {"mminspect.assets"} | {f"mminspect.assets.{d.name}"
                                     for d in (REPO / "assets").iterdir() if d.is_dir()}
    assert set(PYPROJECT["tool"]["setuptools"]["packages"]) == found | assets


def test_dependencies_are_the_pins_of_requirements_txt():
    lines = [ln.split("#")[0].strip() for ln in (REPO / "requirements.txt").read_text().splitlines()]
    assert sorted(PYPROJECT["project"]["dependencies"]) == sorted(ln for ln in lines if ln)


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh environment that sees the test environment's packages (no downloads) and gets
    mminspect itself only from `pip install --no-deps .`."""
    env_dir = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-build-isolation", str(REPO)], check=True, timeout=600)
    return env_dir


def run(cmd, cwd, timeout=300):
    env = {**os.environ, "PYTHONPATH": ""}          # nothing from the checkout leaks in
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_installed_command_runs_outside_the_checkout(venv, tmp_path):
    where = run([str(venv / "bin" / "python"), "-c", "import mminspect; print(mminspect.__file__)"],
                cwd=tmp_path)
    assert where.returncode == 0 and str(venv) in where.stdout, where.stderr
    out = run([str(venv / "bin" / "mminspect"), "text", "The cat sat on the mat.",
               "--compare", "A dog lay on the rug.", "--json", "t.json"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "cosine similarity to the second text" in out.stdout
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["result"]["__result__"] == "TextView"


def test_installed_package_carries_the_bundled_assets(venv, tmp_path):
    code = ("import mminspect as mi\n"
            "from mminspect.models.miniclip_adapter import MINICLIP_DIR\n"
            "from mminspect.api.lessons import LESSON_DIR\n"
            "print(MINICLIP_DIR); print(LESSON_DIR)\n"
            "ex = mi.load_example('scene 1: a red star and a green star')\n"
            "ex.image.save('scene.png')\n"
            "m2 = mi.load('miniclip2')\n"                     # the second bundled mini-CLIP
            "world = [t for t in mi.list_examples() if t.startswith('mini-CLIP 2')]\n"
            "assert len(world) == 4 and mi.load_example(world[0]).masks\n"
            "print(m2.folder)\n")
    out = run([str(venv / "bin" / "python"), "-c", code], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert all(str(venv) in line for line in out.stdout.split())
    img = run([str(venv / "bin" / "mminspect"), "image", "scene.png", "--prompts", "a red star",
               "a blue circle"], cwd=tmp_path)
    assert img.returncode == 0, img.stderr
    assert "P(a red star)" in img.stdout


def test_cli_errors_have_exit_codes_and_no_traceback(venv, tmp_path):
    cli = str(venv / "bin" / "mminspect")
    empty = run([cli, "text", ""], cwd=tmp_path)
    assert empty.returncode == 3 and "Traceback" not in empty.stderr
    assert "empty" in empty.stderr
    usage = run([cli, "attribute", "x", "--method", "nope"], cwd=tmp_path)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    missing = run([cli, "image", "nope.png", "--prompts", "a"], cwd=tmp_path)
    assert missing.returncode == 3 and "No image file" in missing.stderr
