"""`pip install .` gives a working library and `mminspect` command outside the checkout:
the package list and the pins agree with the source tree and requirements.txt, the wheel
leaves the lab programs out, and the wheel installed into a fresh folder runs the CLI from
another folder with the bundled assets.

The wheel is built once with this interpreter's own build tools (requirements-test.txt asks
for a setuptools that builds wheels by itself) and installed with `pip install --target`: no
nested virtual environment, whose `--system-site-packages` would see the base Python's
packages (an old setuptools, no torch) rather than this environment's."""
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


LAB = "mminspect.lab"   # programs that run from the repository, not shipped


def test_every_python_package_and_asset_folder_is_listed_and_lab_is_not():
    found = {".".join(p.parent.relative_to(REPO).parts)
             for p in (REPO / "mminspect").rglob("__init__.py")}
    shipped = {p for p in found if p != LAB and not p.startswith(LAB + ".")}
    assert LAB in found and shipped != found
    assets = {"mminspect.assets"} | {f"mminspect.assets.{d.name}"
                                     for d in (REPO / "assets").iterdir() if d.is_dir()}
    assert set(PYPROJECT["tool"]["setuptools"]["packages"]) == shipped | assets


def test_dependencies_are_the_pins_of_requirements_txt():
    lines = [ln.split("#")[0].strip() for ln in (REPO / "requirements.txt").read_text().splitlines()]
    assert sorted(PYPROJECT["project"]["dependencies"]) == sorted(ln for ln in lines if ln)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of what the wheel is made of: setuptools writes build/ next to the
    sources, where a stale build/lib (a module since removed) would slip into the wheel."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("mminspect", "assets"):
        shutil.copytree(REPO / name, src / name, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                        "--no-build-isolation", "-w", str(out), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    (whl,) = out.glob("mminspect-*.whl")
    return whl


def test_the_wheel_leaves_the_lab_out_and_carries_the_assets(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith("mminspect/lab/")]
    assert "mminspect/api/clip.py" in names and "mminspect/bench.py" in names
    assert any(n.startswith("mminspect/assets/miniclip2/") and n.endswith(".safetensors")
               for n in names)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh folder holding mminspect only from its wheel (`pip install --target`, no deps:
    torch and the rest come from this environment); its command is installed/"bin"/"mminspect"."""
    target = tmp_path_factory.mktemp("installed")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, timeout=600)
    return target


def run(cmd, cwd, installed: Path, timeout=300):
    """`cmd` from `cwd` (outside the checkout) seeing mminspect only from `installed`;
    "python" is this interpreter."""
    env = {**os.environ, "PYTHONPATH": str(installed)}
    cmd = [sys.executable, *cmd[1:]] if cmd[0] == "python" else cmd
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_installed_command_runs_outside_the_checkout(installed, tmp_path):
    where = run(["python", "-c", "import mminspect; print(mminspect.__file__)"], tmp_path, installed)
    assert where.returncode == 0 and str(installed) in where.stdout, where.stderr
    out = run([str(installed / "bin" / "mminspect"), "text", "The cat sat on the mat.",
               "--compare", "A dog lay on the rug.", "--json", "t.json"], tmp_path, installed)
    assert out.returncode == 0, out.stderr
    assert "cosine similarity to the second text" in out.stdout
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["result"]["__result__"] == "TextView"


def test_installed_package_carries_the_bundled_assets(installed, tmp_path):
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
    out = run(["python", "-c", code], tmp_path, installed)
    assert out.returncode == 0, out.stderr
    assert all(str(installed) in line for line in out.stdout.split())
    img = run([str(installed / "bin" / "mminspect"), "image", "scene.png", "--prompts",
               "a red star", "a blue circle"], tmp_path, installed)
    assert img.returncode == 0, img.stderr
    assert "P(a red star)" in img.stdout


def test_cli_errors_have_exit_codes_and_no_traceback(installed, tmp_path):
    cli = str(installed / "bin" / "mminspect")
    empty = run([cli, "text", ""], tmp_path, installed)
    assert empty.returncode == 3 and "Traceback" not in empty.stderr
    assert "empty" in empty.stderr
    usage = run([cli, "attribute", "x", "--method", "nope"], tmp_path, installed)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    missing = run([cli, "image", "nope.png", "--prompts", "a"], tmp_path, installed)
    assert missing.returncode == 3 and "No image file" in missing.stderr


def test_the_installed_benchmark_says_it_runs_from_a_clone(installed, tmp_path):
    out = run(["python", "-m", "mminspect.bench"], tmp_path, installed)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "runs from a clone of the repository" in out.stderr
