"""Results held for a session expire, for every caller: pages and raw API sessions alike.

gradio keeps each session's gr.State values in `app.state_holder.session_data[hash]`
(state_holder.py, gradio 6.31) until the page's heartbeat closes, then for an hour. A raw API
caller (POST /gradio_api/call/inspect_text) never opens a page, so its session is never
closed: each 512-token inspect kept ~80 MB for good, and about 100 calls fill a 16 GB Space.

`expire_sessions(demo)` bounds them, checked once a second (gradio's own state sweep):
- a session with no open page (no heartbeat stream) that has not been used for
  MMINSPECT_SESSION_IDLE_S seconds (default 120) is dropped whole;
- a session's state is kept within MMINSPECT_SESSION_BYTES (default 512 MB): past it, its
  oldest values go first;
- all sessions together within MMINSPECT_STATE_BYTES (default 4 GB): past it, the least
  recently used sessions go first (least recently used: LRU).
A session with an event waiting or running is never touched. A visitor whose results went
gets the tab's usual "run it first" message on the next redraw.

`SessionsMiddleware` counts the open streams the two need: a page's heartbeat
(GET /heartbeat/<hash>) and result streams (GET /queue/data?session_hash=…,
GET /call/<name>/<event_id>), on the gradio app object (`scope["app"]`); clients.py reads the
result streams to drop events nobody listens to.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import threading
from urllib.parse import parse_qs

import gradio as gr

from ..api.memory import release_memory
from .hosting import env_int

log = logging.getLogger("mminspect")
MB = 2**20


# --- open streams -----------------------------------------------------------------------

def stream_key(scope) -> str | None:
    """"page:<hash>" for a heartbeat, the session hash or event id for a result stream."""
    if scope.get("type") != "http" or scope.get("method") != "GET":
        return None
    path = scope.get("path", "").rstrip("/")
    parts = path.split("/")
    if path.endswith("/queue/data"):
        query = parse_qs(scope.get("query_string", b"").decode("latin1"))
        return (query.get("session_hash") or [None])[0]
    if len(parts) >= 2 and parts[-2] == "heartbeat":
        return "page:" + parts[-1]
    if len(parts) >= 3 and "call" in parts[:-2]:
        return parts[-1]                               # /call/<api_name>/<event_id>
    return None


def open_streams(app) -> dict[str, int] | None:
    """The app's open stream counts, or None when it has no SessionsMiddleware."""
    return getattr(app, "_mminspect_streams", None)


class SessionsMiddleware:
    """ASGI middleware: counts open streams, and on its first request hooks the budget of
    `expire_sessions` into gradio's once-a-second state sweep."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        app = scope.get("app")
        if app is None or scope["type"] != "http":
            return await self.app(scope, receive, send)
        if getattr(app, "_mminspect_streams", None) is None:
            app._mminspect_streams = {}
            _hook_sweep(app)
        key = stream_key(scope)
        if key is None:
            return await self.app(scope, receive, send)
        streams = app._mminspect_streams
        streams[key] = streams.get(key, 0) + 1
        try:
            await self.app(scope, receive, send)
        finally:
            streams[key] -= 1
            if streams[key] <= 0:
                streams.pop(key, None)


# --- the budget -------------------------------------------------------------------------

@dataclasses.dataclass
class Budget:
    idle_s: float
    session_bytes: int
    total_bytes: int
    sizes: dict = dataclasses.field(default_factory=dict)   # (hash, state id) -> (id(value), bytes)
    dropped: int = 0                                        # sessions dropped so far (tests, logs)


def expire_sessions(demo: gr.Blocks, idle_s: float | None = None, session_bytes: int | None = None,
                    total_bytes: int | None = None) -> Budget:
    """Attach the budget to `demo`; it takes effect once served with SessionsMiddleware."""
    budget = Budget(
        idle_s=idle_s if idle_s is not None else env_int("MMINSPECT_SESSION_IDLE_S", 120),
        session_bytes=session_bytes or env_int("MMINSPECT_SESSION_BYTES", 512) * MB,
        total_bytes=total_bytes or env_int("MMINSPECT_STATE_BYTES", 4096) * MB)
    demo._mminspect_budget = budget
    return budget


def size_of(value, depth: int = 0) -> int:
    """Bytes a state value holds, roughly: arrays and tensors by their buffers, text by its
    length, containers and results by their parts (to a bounded depth)."""
    if depth > 8 or value is None or isinstance(value, (bool, int, float)):
        return 0
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):                           # numpy arrays, torch tensors
        return nbytes
    if isinstance(value, (str, bytes, bytearray)):
        return len(value)
    if hasattr(value, "size") and hasattr(value, "getbands"):      # a PIL image
        w, h = value.size
        return w * h * len(value.getbands())
    if isinstance(value, dict):
        return sum(size_of(k, depth + 1) + size_of(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(size_of(v, depth + 1) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(size_of(getattr(value, f.name, None), depth + 1)
                   for f in dataclasses.fields(value))
    if hasattr(value, "__dict__"):
        return size_of(vars(value), depth + 1)
    return 0


def _busy_sessions(blocks) -> set[str]:
    queue = getattr(blocks, "_queue", None)
    if queue is None:
        return set()
    waiting = [e for q in queue.event_queue_per_concurrency_id.values() for e in q.queue]
    running = [e for job in queue.active_jobs if job for e in job]
    return {e.session_hash for e in waiting + running}


def _value_sizes(budget: Budget, session_hash: str, session) -> dict[int, int]:
    """{state id: bytes} for one session, measuring only values that changed."""
    out = {}
    for key, value in list(session.state_data.items()):
        cached = budget.sizes.get((session_hash, key))
        if cached is None or cached[0] != id(value):
            cached = (id(value), size_of(value))
            budget.sizes[(session_hash, key)] = cached
        out[key] = cached[1]
    return out


def _drop_session(holder, budget: Budget, session_hash: str) -> None:
    holder.delete_state(session_hash)                  # runs each State's delete_callback
    with holder.lock:
        holder.session_data.pop(session_hash, None)
        holder.time_last_used.pop(session_hash, None)
    for key in [k for k in budget.sizes if k[0] == session_hash]:
        del budget.sizes[key]
    budget.dropped += 1


def _drop_values(session, budget: Budget, session_hash: str, keys) -> None:
    for key in keys:
        session.state_data.pop(key, None)
        session._state_ttl.pop(key, None)
        budget.sizes.pop((session_hash, key), None)


def sweep(app, budget: Budget) -> int:
    """One pass of the budget over `app`'s sessions; returns the bytes it let go."""
    holder, blocks = app.state_holder, app.get_blocks()
    streams = open_streams(app) or {}
    busy, now = _busy_sessions(blocks), datetime.datetime.now()
    freed, alive = 0, []
    for session_hash, session in list(holder.session_data.items()):
        if session_hash in busy:
            continue
        sizes = _value_sizes(budget, session_hash, session)
        used = holder.time_last_used.get(session_hash, now)
        if (not streams.get("page:" + session_hash)
                and (now - used).total_seconds() > budget.idle_s):
            freed += sum(sizes.values())
            _drop_session(holder, budget, session_hash)
            continue
        held = sum(sizes.values())
        if held > budget.session_bytes:                # oldest values first
            order = sorted(sizes, key=lambda k: session._state_ttl.get(k, (0, now))[1])
            over = []
            for key in order:
                if held <= budget.session_bytes:
                    break
                over.append(key)
                held -= sizes[key]
                freed += sizes[key]
            _drop_values(session, budget, session_hash, over)
        alive.append((used, session_hash, held))
    total = sum(h for _, _, h in alive)
    for used, session_hash, held in sorted(alive):      # least recently used first
        if total <= budget.total_bytes:
            break
        _drop_session(holder, budget, session_hash)
        total -= held
        freed += held
    return freed


def _hook_sweep(app) -> None:
    """Run `sweep` after gradio's own once-a-second state sweep (an instance attribute of
    the app's StateHolder, gradio 6.31 route_utils._delete_state)."""
    budget = getattr(app.get_blocks(), "_mminspect_budget", None)
    holder = getattr(app, "state_holder", None)
    if budget is None or holder is None:
        return
    original = holder.delete_all_expired_state

    def delete_expired_and_over_budget():
        original()
        try:
            freed = sweep(app, budget)
        except Exception:  # noqa: BLE001 - a failed pass must not stop gradio's sweep loop
            log.exception("session budget pass failed")
            return
        if freed > 16 * MB:                   # give the pages back, off the event loop
            log.info("released %.0f MB of session state", freed / MB)
            threading.Thread(target=release_memory, name="mminspect-release", daemon=True).start()

    holder.delete_all_expired_state = delete_expired_and_over_budget
