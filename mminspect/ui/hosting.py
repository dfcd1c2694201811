"""Settings and guards for serving the app to the public (a Hugging Face Space, a server).

- `is_public()`: one explicit switch, MMINSPECT_PUBLIC=1/0 (on by itself on a Space, or when
  GRADIO_SERVER_NAME is a non-local address); `public_setting()` names what decided it, so
  every refusal names the setting actually in force.
- `custom_models_allowed()`: the free-text model box (any hub id, any server folder) is off on a
  public server unless the host turns it on (MMINSPECT_ALLOW_CUSTOM_MODELS=1).
- `security_headers()` and `HeadersMiddleware`: CSP (with frame-ancestors), X-Frame-Options
  (not on a Space, which shows the app inside an iframe of huggingface.co), nosniff.
- The queue's per-client bound, client identity and never-listened events: clients.py;
  malformed inputs get the app's words: guards.py; state expiry: sessions.py; upload quota:
  uploads.py; docs/hosting.md lists every setting.
- `forget_closed_sessions(demo)`: a visitor's results (gr.State) are dropped
  MMINSPECT_KEEP_CLOSED_S seconds after their page closes, not gradio's hour.
"""
from __future__ import annotations

import logging
import os

import gradio as gr

LOCAL_NAMES = {"", "127.0.0.1", "localhost", "::1"}
FALSE, TRUE = ("0", "false", "no", "off"), ("1", "true", "yes", "on")
MODEL_QUEUE = "model"                     # the concurrency_id every model event shares


def configure_logging() -> None:
    """MMINSPECT_LOG_LEVEL (e.g. INFO): the app's own log lines at that level on stderr,
    such as how long each event held its lane. Unset: warnings only (Python's default)."""
    level = os.environ.get("MMINSPECT_LOG_LEVEL", "").strip().upper()
    logger = logging.getLogger("mminspect")
    if level in ("DEBUG", "INFO", "WARNING", "ERROR") and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)


def env_flag(name: str) -> bool | None:
    """True / False when the variable says so, None when it is unset or unreadable."""
    value = os.environ.get(name, "").strip().lower()
    return True if value in TRUE else False if value in FALSE else None


def env_int(name: str, default: int, minimum: int = 1) -> int:
    try:
        return max(minimum, int(os.environ.get(name, default)))
    except ValueError:
        return default


def public_setting() -> tuple[bool, str]:
    """(public?, the setting that decided it, in words a host can act on).

    Why one explicit switch: behind a reverse proxy the app listens on 127.0.0.1 and has no
    SPACE_ID, so guessing from how it was started would call a public server local."""
    explicit = env_flag("MMINSPECT_PUBLIC")
    if explicit is not None:
        return explicit, f"MMINSPECT_PUBLIC={os.environ['MMINSPECT_PUBLIC'].strip()}"
    if os.environ.get("SPACE_ID"):
        return True, "SPACE_ID is set (a Hugging Face Space counts as public: MMINSPECT_PUBLIC=1)"
    name = os.environ.get("GRADIO_SERVER_NAME", "").strip().lower()
    if name not in LOCAL_NAMES:
        return True, f"GRADIO_SERVER_NAME={name} (a non-local address counts as public)"
    return False, "MMINSPECT_PUBLIC is unset and the server listens on this machine only"


def is_public() -> bool:
    return public_setting()[0]


def custom_models_allowed() -> bool:
    """MMINSPECT_ALLOW_CUSTOM_MODELS=1/0 decides; unset: on locally, off in public."""
    explicit = env_flag("MMINSPECT_ALLOW_CUSTOM_MODELS")
    return (not is_public()) if explicit is None else explicit


def custom_models_refusal() -> str:
    """The message when a visitor types a model name the server does not allow."""
    if env_flag("MMINSPECT_ALLOW_CUSTOM_MODELS") is False:
        why = f"MMINSPECT_ALLOW_CUSTOM_MODELS={os.environ['MMINSPECT_ALLOW_CUSTOM_MODELS'].strip()}"
    else:
        why = public_setting()[1] + "; the host can set MMINSPECT_ALLOW_CUSTOM_MODELS=1"
    return ("This server only offers the models in the list (custom models are turned off: "
            f"{why}).")


# --- security headers -------------------------------------------------------------------
# What gradio 6.31's page needs, checked in Chromium (tests/test_hosting_headers.py): inline
# scripts (its config) and styles, blob: and data: images, web workers from blob:, Google
# fonts (the theme), and bertviz's scripts from cdnjs inside its sandboxed srcdoc iframe
# (which inherits this policy).
CDN = "https://cdnjs.cloudflare.com"
CSP_BASE = ("default-src 'self'; "
            f"script-src 'self' 'unsafe-inline' 'unsafe-eval' blob: {CDN}; "
            f"style-src 'self' 'unsafe-inline' https://fonts.googleapis.com {CDN}; "
            "font-src 'self' data: https://fonts.gstatic.com; "
            "img-src 'self' data: blob:; media-src 'self' data: blob:; "
            "connect-src 'self'; worker-src 'self' blob:; frame-src 'self' blob: data:; "
            "object-src 'none'; base-uri 'self'; form-action 'self'")
SPACE_ANCESTORS = "'self' https://huggingface.co https://*.hf.space"


def frame_ancestors() -> str:
    """Who may show the app in a frame: MMINSPECT_FRAME_ANCESTORS if the host sets it; on a
    Space huggingface.co (it embeds every app in an iframe); elsewhere this site only."""
    explicit = os.environ.get("MMINSPECT_FRAME_ANCESTORS", "").strip()
    if explicit:
        return explicit
    return SPACE_ANCESTORS if os.environ.get("SPACE_ID") else "'self'"


def security_headers() -> dict[str, str]:
    """The headers every response carries (read at start-up, from the environment)."""
    ancestors = frame_ancestors()
    headers = {
        "Content-Security-Policy": f"{CSP_BASE}; frame-ancestors {ancestors}",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if ancestors == "'self'":
        # X-Frame-Options has no list form: send it only when nobody else may embed the app
        headers["X-Frame-Options"] = "SAMEORIGIN"
    return headers


SECURITY_HEADERS = security_headers()     # as the environment at import says (tests read it)


class HeadersMiddleware:
    """ASGI middleware adding `security_headers()` to every HTTP response."""

    def __init__(self, app):
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in security_headers().items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.headers if k not in present]
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

