"""Settings and guards for serving the app to the public (a Hugging Face Space, a server).

- `is_public()` / `custom_models_allowed()`: the free-text model box (any hub id, any server
  folder) is off on a public server unless the host turns it on explicitly.
- `limit_queue_per_client(demo)`: gradio has one global queue size and no per-client bound,
  so one visitor could fill every model slot; this refuses a new model event from a client
  that already holds `per_session` of them (or an address that holds `per_address`).
- `guard_inputs(demo)`: a malformed API call (too few inputs, text where a number goes) gets
  the app's own message naming the input, not gradio's "upstream app raised an exception".
- `SECURITY_HEADERS` and `HeadersMiddleware`: sent with every response.
- `forget_closed_sessions(demo)`: a visitor's results (gr.State) are dropped
  MMINSPECT_KEEP_CLOSED_S seconds after their page closes, not gradio's hour.
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


def expected_value(block) -> str:
    """What an input takes, in words (for a message about a malformed call)."""
    if isinstance(block, (gr.Slider, gr.Number)):
        lo, hi = getattr(block, "minimum", None), getattr(block, "maximum", None)
        return f"a number from {lo:g} to {hi:g}" if lo is not None and hi is not None else "a number"
    if isinstance(block, gr.Checkbox):
        return "true or false"
    if isinstance(block, (gr.Dropdown, gr.Radio)):
        return "one of its listed choices"
    if isinstance(block, gr.Textbox):
        return "text"
    return "a value of the kind the API page (?view=api) shows"


def input_name(block) -> str:
    return str(block.label or block.elem_id or type(block).__name__)


def _readable_preprocess(block, preprocess):
    def preprocess_or_say_why(payload):
        try:
            return preprocess(payload)
        except gr.Error:
            raise                                   # gradio's own clear message (e.g. a range)
        except Exception:  # noqa: BLE001 - any value it cannot read gets one clear message
            raise gr.Error(f"The input \u201c{input_name(block)}\u201d could not be read: it takes "
                           f"{expected_value(block)}. Nothing was run; send a value of that kind.",
                           print_exception=False) from None
    return preprocess_or_say_why


def guard_inputs(demo: gr.Blocks) -> None:
    """Give malformed API calls the app's own message (the value is never echoed back).

    Why wrappers: gradio checks the input count and converts each value before any handler
    runs, and answers a failure there with no message ({"error": null}) or "upstream Gradio
    app has raised an exception". A `gr.Error` raised at the same places is shown as written.
    Wraps the Blocks' `validate_inputs` and each input component's `preprocess` (instance
    attributes; checked against gradio 6.31 by tests/test_load.py)."""
    validate = demo.validate_inputs

    def validate_with_message(block_fn, inputs):
        needed = len(block_fn.inputs)
        if len(inputs) < needed:
            names = ", ".join(input_name(b) for b in block_fn.inputs)
            raise gr.Error(f"This request sent {len(inputs)} of the {needed} inputs this action "
                           f"needs ({names}). Nothing was run; send every input, in that order, "
                           "as the API page (?view=api) shows.", print_exception=False)
        return validate(block_fn, inputs)

    demo.validate_inputs = validate_with_message
    wrapped: set[int] = set()
    for fn in demo.fns.values():
        for block in fn.inputs:
            if id(block) not in wrapped and hasattr(block, "preprocess"):
                wrapped.add(id(block))
                block.preprocess = _readable_preprocess(block, block.preprocess)


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


KEEP_CLOSED_S = 120      # default seconds a closed page's results stay (a reload within it keeps them)


def _forget_soon(demo: gr.Blocks, keep_s: int, request: gr.Request) -> None:
    """On a page's unload: its session's state expires `keep_s` after its last update
    instead of an hour. Why by hand: gradio keeps a closed session's gr.State for 3600 s
    whatever the State's time_to_live (state_holder.SessionState.STATE_TTL_WHEN_CLOSED, an
    instance attribute read when it sweeps, every second), and a 374-token text's results
    hold ~38 MB, so on a busy public Space closed pages would pile up gigabytes. If a
    gradio upgrade renames the attribute, nothing breaks: the hour applies again (and
    tests/test_hosting_sessions.py fails, so we notice)."""
    holder = getattr(getattr(demo, "server_app", None), "state_holder", None)
    session = getattr(holder, "session_data", {}).get(getattr(request, "session_hash", None))
    if session is not None and hasattr(session, "STATE_TTL_WHEN_CLOSED"):
        session.STATE_TTL_WHEN_CLOSED = keep_s


def forget_closed_sessions(demo: gr.Blocks, keep_s: int | None = None) -> None:
    """Register the unload event that shortens a closed page's state life (call inside or
    after the Blocks; MMINSPECT_KEEP_CLOSED_S, default 120 s)."""
    keep = env_int("MMINSPECT_KEEP_CLOSED_S", KEEP_CLOSED_S) if keep_s is None else keep_s

    # A named closure, not functools.partial: gradio finds the gr.Request parameter through
    # the function's type hints, which a partial does not expose.
    def forget_closed_session(request: gr.Request) -> None:
        _forget_soon(demo, keep, request)

    demo.unload(forget_closed_session)
