"""Keep memory flat in gradio's worker threads: glibc allocator settings, set at start.

Why: gradio runs each event in a worker thread, and glibc gives threads their own heaps
("arenas") and raises its mmap threshold after large blocks are freed (up to 32 MB), so
large temporary arrays then come from the heaps and their pages stay with the process. A
patching run over the residual stream of a 512-token text grew ~25 MB/s in a worker thread
(21.8 GB after 9 min) while the same call on the main thread stayed at ~1 GB; with
MALLOC_MMAP_THRESHOLD_=1048576 it stayed flat. Setting the thresholds explicitly (mallopt)
fixes them: blocks of 1 MiB and more are mapped and unmapped on their own, and free memory at
the top of a heap above 8 MiB is given back.

`tune_allocator()` is called when the app module is imported (ui/app.py). It does nothing
where the C library is not glibc (musl, macOS), or with MMINSPECT_MALLOC=off. The glibc
environment variables (MALLOC_MMAP_THRESHOLD_, MALLOC_ARENA_MAX, …) still win if a host set
them: then this leaves the allocator alone.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3        # glibc malloc.h
MMAP_THRESHOLD = 1 << 20
TRIM_THRESHOLD = 8 << 20
_applied: dict | None = None


def tune_allocator(mmap_threshold: int = MMAP_THRESHOLD,
                   trim_threshold: int = TRIM_THRESHOLD) -> dict:
    """Set glibc's thresholds once; returns what was set ({} where nothing was)."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = {}
    if os.environ.get("MMINSPECT_MALLOC", "").strip().lower() in ("off", "0", "no", "false"):
        return _applied
    if platform.libc_ver()[0] != "glibc":
        return _applied
    if any(name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return _applied                           # the host's own choice
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return _applied
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1:
        _applied["M_MMAP_THRESHOLD"] = mmap_threshold
    if mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1:
        _applied["M_TRIM_THRESHOLD"] = trim_threshold
    return _applied
