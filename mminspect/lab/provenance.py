"""The one provenance writer: what every record the project ships says about how it was made.

    at_start = code_snapshot(CODE)               # CODE: folders, e.g. ("mminspect/explain", ...)
    ... measure ...
    prov = provenance("mminspect.lab.miniclip_eval", args, params={...}, code=CODE, at_start=at_start)
    # narrower: `with sources_that_run(CODE) as files: <one piece of the work>`, then files=files

- `command`: the program and the arguments exactly as given (so non-default flags are kept),
  and `argv`, the process's own `sys.argv`;
- `params`: every parameter, defaults included (a reader should not need the code to know them);
- `packages`: versions of the libraries that compute the figures;
- `code`: the git commit (and which of the files below differ from it), plus the SHA-256 of
  each source file that produced the record and one hash over them all: the modules a program
  imported from given folders, or, narrower, those whose functions ran. A reader compares the
  hash to today's (`models.bundled.sources_sha256`) to see whether the record is still current;
- `date` (UTC) and `machine` (platform, CPU count, torch threads, device, load average).
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

import torch

from ..models.bundled import sources_sha256

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"torch": "torch", "transformers": "transformers", "open_clip": "open_clip_torch",
            "captum": "captum", "numpy": "numpy", "gradio": "gradio"}


def package_versions() -> dict[str, str | None]:
    out = {}
    for name, dist in PACKAGES.items():
        try:
            out[name] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _within(paths, folders: Sequence[str], root: Path) -> list[str]:
    """The paths (absolute) that lie in `folders` (folders or single files, relative to the
    repository), as sorted repository-relative paths."""
    out = set()
    for f in paths:
        if not f or not f.endswith(".py"):
            continue
        try:
            rel = Path(f).resolve().relative_to(root).as_posix()
        except ValueError:
            continue                                    # outside the repository
        if any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in folders):
            out.add(rel)
    return sorted(out)


def loaded_sources(folders: Sequence[str], root: Path = ROOT) -> list[str]:
    """Repository-relative paths of the imported modules that lie in `folders`."""
    return _within([getattr(m, "__file__", None) for m in list(sys.modules.values())],
                   folders, root)


def _git(*args: str, root: Path = ROOT) -> str | None:
    try:
        r = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.rstrip("\n") if r.returncode == 0 else None   # porcelain lines start with a space


def code_version(files: Sequence[str], root: Path = ROOT) -> dict:
    """{git_commit, changed_since_commit, files: {path: sha256}, sha256}."""
    combined, per_file = sources_sha256(root, files)
    status = _git("status", "--porcelain", "--", *files, root=root) if files else ""
    return {"git_commit": _git("rev-parse", "HEAD", root=root),
            "changed_since_commit": None if status is None else
            sorted(line[3:] for line in status.splitlines()),
            "files": per_file, "sha256": combined}


def machine(device: str | torch.device | None = None) -> dict:
    return {"platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "device": str(device) if device is not None else
            ("cuda" if torch.cuda.is_available() else "cpu"),
            "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg")
            else None}


def command_line(program: str, args: Sequence[str]) -> str:
    """How to run it again: `python -m <program> <args exactly as given>`."""
    return " ".join(["python", "-m", program, shlex.join(list(args))]).strip()


@contextmanager
def sources_that_run(folders: Sequence[str], root: Path = ROOT) -> Iterator[list[str]]:
    """Collect the repository files, within `folders`, whose Python functions are called inside
    the block (a profile hook on function calls; run it over one representative piece of the
    work, since it slows calls down). The list is filled when the block exits. A file that only
    lends a constant, with none of its functions called, is not in it."""
    seen: set[str] = set()
    out: list[str] = []

    def hook(frame, event, arg):
        if event == "call":
            seen.add(frame.f_code.co_filename)

    before = sys.getprofile()
    sys.setprofile(hook)
    try:
        yield out
    finally:
        sys.setprofile(before)
        out.extend(_within(seen, folders, root))


def folder_sources(folders: Sequence[str], root: Path = ROOT) -> list[str]:
    """Repository-relative paths of every .py file in `folders` (folders or single files),
    imported or not."""
    found = []
    for d in folders:
        p = root / d
        found += [p] if p.is_file() else [f for f in p.rglob("*.py") if "__pycache__" not in f.parts]
    return _within([str(f) for f in found], folders, root)


def code_snapshot(code: Sequence[str], files: Sequence[str] | None = None) -> dict:
    """code_version() of `files`, or else of EVERY source file in the `code` folders: take it
    before measuring and hand it to `provenance` as `at_start`. Every file, not only those
    imported so far: a program imports lazily, and a file first imported mid-run must still
    be compared with its bytes at the start."""
    return code_version(folder_sources(code) if files is None else files)


def provenance(program: str, args: Sequence[str], params: dict, code: Sequence[str],
               device: str | torch.device | None = None, at_start: dict | None = None,
               files: Sequence[str] | None = None) -> dict:
    """The provenance block of one record. `args`: the arguments the program parsed (its
    `argv`, i.e. sys.argv[1:] when run from a shell); `code`: folders whose imported modules
    produced the figures, or `files`, the narrower list `sources_that_run` gives; `at_start`:
    their `code_snapshot` before the measurement. If one of those files changed while the program ran (a
    shared checkout), the record could not say which code made it: refuse to write it."""
    now = code_version(loaded_sources(code) if files is None else files)
    # only the files that produced the figures, each against its own bytes at the start (a
    # file absent at the start was created during the run: changed too)
    changed = [] if at_start is None else [
        f for f in now["files"] if at_start["files"].get(f, "absent") != now["files"][f]]
    if changed:
        raise RuntimeError(f"source files changed during the run ({', '.join(changed)}); "
                           "the figures cannot be tied to one version of the code: run again.")
    return {"command": command_line(program, args), "argv": list(sys.argv),
            "params": params, "packages": package_versions(), "code": now,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(device)}
