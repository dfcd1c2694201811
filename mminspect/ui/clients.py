"""Who a client is, how much of the model queue it may hold, and events nobody listens to.

- `client_address(request)`: the socket address, or an X-Forwarded-For entry only through
  MMINSPECT_TRUSTED_PROXIES=N proxies (the Nth entry from the right: each trusted proxy
  appends the address it saw, and everything left of those is written by the client).
  Default 0, and 1 on a Hugging Face Space (its one proxy). uvicorn would itself replace a
  loopback peer's address with the header's last entry (its FORWARDED_ALLOW_IPS defaults to
  127.0.0.1), so a script on the same machine could name itself anything: `use_socket_address()`
  turns that off unless the host set FORWARDED_ALLOW_IPS.
- `limit_queue_per_client(demo)`: gradio has one global queue size and no per-client bound;
  a client holding `per_session` model events (or an address holding `per_address`) in any
  model lane gets a refusal instead of a place in line.
- `cancel_unheard(demo)` (with sessions.SessionsMiddleware counting streams): an event whose caller never opened its
  result stream (a raw POST /queue/join or /call/<name> with no GET) is dropped when its turn
  comes instead of running for nobody. gradio itself stops only events whose stream closed.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time

import gradio as gr
from gradio.server_messages import ProcessCompletedMessage

from .hosting import MODEL_QUEUE, env_int
from .sessions import open_streams

log = logging.getLogger("mminspect")
LISTEN_GRACE_S = 5.0        # how long an event's turn waits for its caller to open the stream
UNHEARD = ("Not run: nobody was listening for this result when its turn came (the result "
           "stream was not opened within a few seconds of the request). Send it again and "
           "read its result stream.")


def use_socket_address() -> None:
    """Make uvicorn leave the socket address alone (call before launch). Why: it trusts
    X-Forwarded-For from 127.0.0.1 by default, which any local script can write."""
    os.environ.setdefault("FORWARDED_ALLOW_IPS", "")


def trusted_proxies() -> int:
    """MMINSPECT_TRUSTED_PROXIES, or 1 on a Space (SPACE_ID set), else 0."""
    default = 1 if os.environ.get("SPACE_ID") else 0
    return env_int("MMINSPECT_TRUSTED_PROXIES", default, minimum=0)


def _forwarded(headers) -> list[str]:
    if headers is None:
        return []
    if hasattr(headers, "getlist"):
        values = headers.getlist("x-forwarded-for")
    else:
        value = headers.get("x-forwarded-for")
        values = [value] if value else []
    return [e.strip() for v in values for e in v.split(",") if e.strip()]


def client_address(request, proxies: int | None = None) -> str:
    """The address fairness is counted by (see the module's note)."""
    if request is None:
        return ""
    peer = getattr(getattr(request, "client", None), "host", "") or ""
    n = trusted_proxies() if proxies is None else proxies
    if n <= 0:
        return peer
    entries = _forwarded(getattr(request, "headers", None))
    if len(entries) >= n:
        return entries[-n]
    # fewer entries than proxies: the request did not come through all of them (or a proxy
    # dropped the header); the leftmost is the best the chain says, the socket otherwise
    return entries[0] if entries else peer


def model_lanes() -> tuple[str, ...]:
    """The concurrency ids of every model lane (lanes.py, when the app has lanes)."""
    try:
        from . import lanes                  # a separate lane for long jobs, if present
    except ImportError:
        return (MODEL_QUEUE,)
    ids = getattr(lanes, "MODEL_LANES", None) or getattr(lanes, "LANES", None)
    if isinstance(ids, dict):
        ids = tuple(ids.values())
    return tuple(ids) if ids else (MODEL_QUEUE,)


def held_by(queue, session: str, address: str, lanes: tuple[str, ...]) -> tuple[int, int]:
    """(events of this session, events of this address) waiting or running in the lanes."""
    waiting = [e for lane in lanes
               for e in getattr(queue.event_queue_per_concurrency_id.get(lane), "queue", [])]
    running = [e for job in queue.active_jobs if job for e in job
               if getattr(e.fn, "concurrency_id", None) in lanes]
    events = waiting + running
    return (sum(e.session_hash == session for e in events),
            sum(client_address(e.request) == address for e in events))


def limit_queue_per_client(demo: gr.Blocks, per_session: int | None = None,
                           per_address: int | None = None) -> None:
    """Wrap the queue's `push` so a client holding too many model events gets a clear
    refusal (HTTP 503 with a message) instead of a place in line.

    Why a wrapper: gradio 6 has no per-client bound. It reads gradio's own queue
    (`event_queue_per_concurrency_id`, `active_jobs`): checked against gradio 6.31 by
    tests/test_hosting.py and tests/test_clients.py."""
    per_session = per_session or env_int("MMINSPECT_MAX_JOBS_PER_SESSION", 2)
    per_address = per_address or env_int("MMINSPECT_MAX_JOBS_PER_ADDRESS", 8)
    use_socket_address()
    queue = demo._queue
    push = queue.push

    async def bounded_push(body, request, username):
        fn = queue.blocks.fns.get(body.fn_index) if body.fn_index is not None else None
        lanes = model_lanes()
        if fn is not None and fn.concurrency_id in lanes:
            mine, ours = held_by(queue, body.session_hash, client_address(request), lanes)
            if mine >= per_session or ours >= per_address:
                return (False, f"You already have {max(mine, ours)} requests running or waiting "
                               "on this server; wait for them to finish (or press Stop), then try "
                               "again.", "queue_full")
        return await push(body, request, username)

    queue.push = bounded_push


# --- events nobody listens to -----------------------------------------------------------

def heard(app, event) -> bool | None:
    """Whether someone holds the event's result stream open; None when the app does not
    count streams (no SessionsMiddleware), so nothing is cancelled there."""
    streams = open_streams(app)
    if streams is None:
        return None
    return bool(streams.get(event.session_hash) or streams.get(event._id))


def cancel_unheard(demo: gr.Blocks, grace_s: float | None = None) -> None:
    """When an event's turn comes and nobody has opened its stream within `grace_s`
    (MMINSPECT_LISTEN_GRACE_S, default 5 s, counted from when it joined), mark it gone: gradio then skips it, as it does
    for an event whose stream closed. Wraps the queue's `process_events` (an instance
    attribute; checked against gradio 6.31 by tests/test_clients.py)."""
    grace = grace_s if grace_s is not None else float(
        os.environ.get("MMINSPECT_LISTEN_GRACE_S", LISTEN_GRACE_S))
    queue = demo._queue
    process = queue.process_events

    async def process_heard(events, batch, begin_time, fn):
        app = queue.server_app
        waiting = [e for e in events if heard(app, e) is False]
        # the grace runs from when the event joined: one that waited in line longer had
        # time enough, so a flood of unheard events costs no waiting at its turn
        end = max((e.enqueue_time for e in waiting), default=0.0) + grace
        while waiting and time.monotonic() < end:
            await asyncio.sleep(0.05)
            waiting = [e for e in waiting if not heard(app, e)]
        for event in waiting:
            log.info("event %s of %s dropped before it started: nobody listens for its result",
                     event._id, getattr(fn, "name", "?"))
            # a caller that comes late still gets an answer (not a stream that never ends)
            queue.send_message(event, ProcessCompletedMessage(
                output={"error": UNHEARD}, success=False, title="Not run"))
            event.alive = False
        return await process(events, batch, begin_time, fn)

    async def process_heard_safely(events, batch, begin_time, fn):
        try:
            return await process_heard(events, batch, begin_time, fn)
        except BaseException:
            # cancelled (or failed) while waiting for a listener: gradio's own process_events,
            # which frees the worker slot in its `finally`, has not run yet; run it with the
            # events marked gone so the slot is never lost
            for event in events:
                event.alive = False
            await process(events, batch, begin_time, fn)
            raise

    queue.process_events = process_heard_safely
