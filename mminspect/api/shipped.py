"""Whether a shipped table (the pointing games, the sanity table) still describes this code:
one implementation for every table.

A table is stale when its figures would change, not when a source file's bytes change. Each
table records the SHA-256 of the files that produced it and, with them, a probe: a small fixed
piece of the same work (one input per model, each method) and the figures it gave. When every
file still has its recorded bytes, the table is current at no cost. When some file changed
(a refactor, a comment), the probe runs again (a few seconds, once per process) and the table
stays current if every figure is the same; if one differs, the app shows it as stale, naming
the figures that moved and the command that re-measures it. A table that records no probe is
judged by its bytes alone.

Each table's module registers its probe here (`PROBES[kind] = function`), so this module
imports nothing from the work it checks.
"""
from __future__ import annotations

import atexit
import importlib.metadata
import json
import math
import os
import threading
from pathlib import Path
from typing import Callable

import torch

from ..models.bundled import code_change, sha256_text, sources_sha256
from .limits import lane

CODE_ROOT = Path(__file__).resolve().parents[2]     # the repository: records name files from here
# kind -> () -> {figure name: [numbers]}; "pointing:<model>" (api.examples), "sanity" (api.trust_shipped)
PROBES: dict[str, Callable[[], dict[str, list[float]]]] = {}
# Equal up to float noise of another thread count or BLAS: a figure that moves less than this
# is not a change in what the table says.
RTOL, ATOL = 1e-3, 1e-4
_RUN: dict[str, dict[str, list[float]]] = {}           # kind -> figures, once per process
_PENDING: dict[str, threading.Thread] = {}             # kind -> its probe running in the background


def _cache_file(kind: str, key: str | None) -> Path | None:
    """Where a probe's figures for this exact code are kept between processes (the app then
    pays for a probe once per code version, not at every start); None: no cache."""
    folder = os.environ.get("MMINSPECT_PROBE_CACHE",
                            str(Path.home() / ".cache" / "mminspect" / "probes"))
    if key is None or folder in ("", "0"):
        return None
    return Path(folder) / f"{kind.replace(':', '-')}-{key[:32]}.json"


def probe_figures(kind: str, key: str | None = None) -> dict[str, list[float]]:
    """The probe's figures today: once per process, and, given `key` (a hash of the code and
    library versions), kept on disk for the next process."""
    if kind in _RUN:
        return _RUN[kind]
    cache = _cache_file(kind, key)
    if cache is not None and cache.is_file():
        try:
            _RUN[kind] = json.loads(cache.read_text())
            return _RUN[kind]
        except (OSError, ValueError):
            pass                                     # unreadable: run it again
    _RUN[kind] = {k: [float(x) for x in v] for k, v in PROBES[kind]().items()}
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(_RUN[kind]))
        except OSError:
            pass                                     # a read-only home: no cache, still right
    return _RUN[kind]


def probe_record(kind: str) -> dict:
    """What a lab program writes next to its table: {"kind", "figures"} of this code."""
    _RUN.pop(kind, None)
    return {"kind": kind, "figures": probe_figures(kind)}


def package_key() -> str:
    """The libraries whose versions can move a figure (part of the cache key)."""
    out = []
    for dist in ("torch", "transformers", "captum", "open_clip_torch", "numpy"):
        try:
            out.append(f"{dist}={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{dist}=none")
    return " ".join(out)


def _same(a: list[float], b: list[float] | None) -> bool:
    return b is not None and len(a) == len(b) and all(
        math.isclose(x, y, rel_tol=RTOL, abs_tol=ATOL) or (math.isnan(x) and math.isnan(y))
        for x, y in zip(a, b))


PROBE_LANE = "probe"        # the background probe's own model copies (registry lanes)


def _lowest_priority() -> None:
    """This thread yields the CPU to every other (Linux: setpriority on a thread id acts on
    that thread only); elsewhere the probe runs unlowered."""
    try:
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, 19)
    except (AttributeError, OSError):
        pass


def _in_background(kind: str, key: str) -> None:
    """Run the probe on a thread of its own (once at a time), for a page that must not wait.

    Why a lane of its own, one CPU thread and the lowest priority: the probe runs attribution
    hooks and randomised copies; on the models the visitors' events use, a concurrent Inspect
    would see its hooks, and at normal priority it would compete with the first page and the
    first clicks of a class for the CPU."""
    if kind in _PENDING and _PENDING[kind].is_alive():
        return

    def run():
        _lowest_priority()
        try:
            with lane(PROBE_LANE, threads=1), _stops_at_exit():
                probe_figures(kind, key)
        except Exception:           # noqa: BLE001 - the next synchronous check reports it
            pass
    _PENDING[kind] = threading.Thread(target=run, name=f"mminspect-probe-{kind}", daemon=True)
    _PENDING[kind].start()


# A process that exits while a probe thread is inside torch aborts ("terminate called
# without an active exception": torch's threads are torn down under it). So at exit the
# probes are asked to stop (their next module forward raises) and are waited for briefly.
_EXITING = threading.Event()


class _ProbeStopped(Exception):
    """Raised inside a probe thread's forward pass when the process is exiting."""


def _stop_probe_forward(module, args):
    if _EXITING.is_set() and threading.current_thread().name.startswith("mminspect-probe-"):
        raise _ProbeStopped("the process is exiting")


class _stops_at_exit:
    """While a probe runs: a global forward pre-hook that ends it at exit (one flag check per
    module call, in every thread, only while a probe runs)."""

    def __enter__(self):
        self.handle = torch.nn.modules.module.register_module_forward_pre_hook(
            _stop_probe_forward)

    def __exit__(self, *exc):
        self.handle.remove()


@atexit.register
def _end_probes(timeout_s: float = 30.0) -> None:
    _EXITING.set()
    for thread in list(_PENDING.values()):
        thread.join(timeout_s)


def code_staleness(rec: dict, root: Path | None = None, wait: bool = True) -> str | None:
    """Why a shipped record's figures no longer describe this code, or None when they do.
    wait=False (a page being built, a badge): a probe not yet run starts in the background
    and the answer says the figures are being re-checked, instead of holding the page."""
    changed = code_change(root or CODE_ROOT, rec.get("provenance", {}).get("code", {}))
    probe = rec.get("probe") or {}
    if changed is None or probe.get("kind") not in PROBES or not probe.get("figures"):
        return changed
    today = sources_sha256(root or CODE_ROOT, rec["provenance"]["code"]["files"])[0]
    key = sha256_text(f"{today} {package_key()}")
    cache = _cache_file(probe["kind"], key)
    if not wait and probe["kind"] not in _RUN and not (cache is not None and cache.is_file()):
        _in_background(probe["kind"], key)
        return (f"{changed}; its figures are being re-checked on one input per model (a few "
                "seconds to minutes): open the page again to see the outcome")
    try:
        now = probe_figures(probe["kind"], key)
    except Exception as e:          # noqa: BLE001 - a probe that cannot run here (a busy
        # machine's time budget, a missing font) leaves the byte rule, and is tried again
        return f"{changed}; its figures could not be re-checked here ({str(e)[:160]})"
    moved = [k for k, v in probe["figures"].items() if not _same(v, now.get(k))]
    if not moved:
        return None                         # bytes changed, figures did not: still current
    shown = ", ".join(moved[:4]) + (f" and {len(moved) - 4} more" if len(moved) > 4 else "")
    return f"its figures would change (the check re-run on one input moved: {shown}); {changed}"


def stale_reason(why: list[str], command: str | None) -> str | None:
    """One sentence for the page: the reasons, then how to re-measure (None: current)."""
    if not why:
        return None
    return "; ".join(why) + (f"; re-run `{command}`" if command else "")
