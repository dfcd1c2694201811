"""Give memory back to the system after large requests.

    release_memory()        # a young-generation gc pass, then glibc's malloc_trim(0)

Why: a freed image or activation map goes back to the C allocator, not to the system. gradio
runs each event in one of many worker threads and glibc keeps a heap ("arena") per thread, so
free space is spread over many heaps and RSS stays near its peak. Measured on the 2-core CI
machine (mini-CLIP in one process, twelve 6000 x 6000 JPEG inspects in worker threads, results
dropped), before uploads were reduced as they are read (api/images.py): RSS 1190 MB after
warm-up, 1702 MB after the requests (+43 %), 1183 MB after malloc_trim(0). With the reduction:
1216 MB (+2 %) after the requests, 1059 MB after malloc_trim(0).

Cost: malloc_trim(0) took 2-90 ms there. A *full* gc pass is not done by default: with the app
and its models loaded (~670,000 tracked objects) it took 0.5-3 s on that machine, and objects
are freed by reference counting anyway; pass full_gc=True where a pause does not matter.
On a system without glibc (musl, macOS) only the gc pass runs. A host can also cap the number
of heaps with MALLOC_ARENA_MAX=2 in the environment.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
import time

_lock = threading.Lock()
_last = 0.0
_libc = None


def _malloc_trim():
    """glibc's malloc_trim, or None where there is none."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
            _libc.malloc_trim.restype = ctypes.c_int
        except (OSError, AttributeError):
            _libc = False
    return _libc.malloc_trim if _libc else None


def release_memory(min_interval_s: float = 0.0, full_gc: bool = False) -> dict:
    """Collect young garbage (all of it with full_gc) and return the allocator's free pages to
    the system.

    min_interval_s: do nothing if the last release was less than this many seconds ago; calls
    from many threads at once coalesce (one runs, the others return at once).
    Returns {"ran": bool, "trimmed": bool, "seconds": float}."""
    global _last
    start = time.perf_counter()
    if not _lock.acquire(blocking=False):
        return {"ran": False, "trimmed": False, "seconds": 0.0}
    try:
        if start - _last < min_interval_s:
            return {"ran": False, "trimmed": False, "seconds": 0.0}
        gc.collect() if full_gc else gc.collect(1)
        trim = _malloc_trim()
        trimmed = bool(trim(0)) if trim is not None else False
        _last = time.perf_counter()
        return {"ran": True, "trimmed": trimmed, "seconds": round(_last - start, 4)}
    finally:
        _lock.release()
