"""Settings and guards for serving the app to the public (a Hugging Face Space, a server).

- `is_public()` / `custom_models_allowed()`: the free-text model box (any hub id, any server
  folder) is off on a public server unless the host turns it on explicitly.
- `limit_queue_per_client(demo)`: gradio has one global queue size and no per-client bound,
  so one visitor could fill every model slot; this refuses a new model event from a client
  that already holds `per_session` of them (or an address that holds `per_address`).
- `SECURITY_HEADERS` and `HeadersMiddleware`: sent with every response.
"""
from __future__ import annotations

import os

import gradio as gr

LOCAL_NAMES = {"", "127.0.0.1", "localhost", "::1"}
FALSE, TRUE = ("0", "false", "no", "off"), ("1", "true", "yes", "on")
MODEL_QUEUE = "model"                     # the concurrency_id every model event shares

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def is_public() -> bool:
    """On a Space (SPACE_ID is set there) or bound to a non-local address."""
    name = os.environ.get("GRADIO_SERVER_NAME", "").strip().lower()
    return bool(os.environ.get("SPACE_ID")) or name not in LOCAL_NAMES


def custom_models_allowed() -> bool:
    """MMINSPECT_ALLOW_CUSTOM_MODELS=1/0 decides; unset: on locally, off in public."""
    value = os.environ.get("MMINSPECT_ALLOW_CUSTOM_MODELS", "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    return not is_public()


def env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def client_address(request) -> str:
    """The visitor's address; behind a proxy (Spaces) the first X-Forwarded-For entry."""
    forwarded = request.headers.get("x-forwarded-for", "") if request is not None else ""
    if forwarded:
        return forwarded.split(",")[0].strip()
    return getattr(getattr(request, "client", None), "host", "") or ""


def limit_queue_per_client(demo: gr.Blocks, per_session: int | None = None,
                           per_address: int | None = None) -> None:
    """Wrap the queue's `push` so a client holding too many model events gets a clear
    refusal (HTTP 503 with a message) instead of a place in line.

    Why a wrapper: gradio 6 has no per-client bound. It reads gradio's own queue
    (`event_queue_per_concurrency_id`, `active_jobs`): checked against gradio 6.31 by
    tests/test_hosting.py."""
    per_session = per_session or env_int("MMINSPECT_MAX_JOBS_PER_SESSION", 2)
    per_address = per_address or env_int("MMINSPECT_MAX_JOBS_PER_ADDRESS", 8)
    queue = demo._queue
    push = queue.push

    def held_by(session: str, address: str) -> tuple[int, int]:
        waiting = list(getattr(queue.event_queue_per_concurrency_id.get(MODEL_QUEUE), "queue", []))
        running = [e for job in queue.active_jobs if job for e in job]
        events = [e for e in waiting + running if getattr(e.fn, "concurrency_id", None) == MODEL_QUEUE]
        return (sum(e.session_hash == session for e in events),
                sum(client_address(e.request) == address for e in events))

    async def bounded_push(body, request, username):
        fn = queue.blocks.fns.get(body.fn_index) if body.fn_index is not None else None
        if fn is not None and fn.concurrency_id == MODEL_QUEUE:
            mine, ours = held_by(body.session_hash, client_address(request))
            if mine >= per_session or ours >= per_address:
                return (False, f"You already have {max(mine, ours)} requests running or waiting "
                               "on this server; wait for them to finish (or press Stop), then try "
                               "again.", "queue_full")
        return await push(body, request, username)

    queue.push = bounded_push


class HeadersMiddleware:
    """ASGI middleware adding SECURITY_HEADERS to every HTTP response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                            if k.lower().encode() not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
