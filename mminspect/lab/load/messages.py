"""What the suite sends and how it reads an answer: the texts, the abuse strings, and the
classification of every answer as ok, rejected (a clear refusal), errored or hung."""
from __future__ import annotations

import json
import re
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field


PROGRAM = "mminspect.lab.load"

# ---------------------------------------------------------------------------- the requests

SHORT = "The cat sat on the mat because it was warm."
SHORT_B = "A kitten was lying on the rug."
LONG = " ".join(
    f"Sentence {i}: the committee met on a rainy Tuesday to discuss the budget, the new "
    f"library and the bridge over the river, and nobody agreed on anything." for i in range(12))
LABELS = "animals, weather, finance"
ATTR_METHODS = ("integrated_gradients", "saliency", "input_x_gradient", "gradient_shap",
                "feature_ablation", "occlusion", "lime", "kernel_shap")
# User text that must never come back as a live element (matched by LIVE below).
XSS = '<img src=x onerror=alert(1)> <script>alert(2)</script> <a href="https://evil.invalid/">go</a>'
LIVE = {"<img": re.compile(r"<img\s+src=x", re.I), "<script": re.compile(r"<script>\s*alert", re.I),
        "<a href": re.compile(r"<a\s+href=[\"']?https://evil", re.I)}
LIVE_IN_PLOTS = ("<a href",)     # plotly renders <a href> in its text as a link, not the others
# Text that says the message is not the app's own.
UNCLEAR = ("upstream Gradio app has raised an exception", "Traceback (most recent call last)",
           " object at 0x", "weights_only", 'File "/')
QUEUE_WORDS = ("queue is full", "you already have")
PATHS_PROBED = ("/root", "/etc", "/nonexistent-mminspect-probe", "/etc/passwd")


@dataclass
class Result:
    case: str
    endpoint: str
    phase: str                  # "warm-up", "run", "probe", "health"
    outcome: str                # ok | rejected | errored | hung
    seconds: float
    message: str = ""
    client: int = -1
    started: float = 0.0        # seconds since the run's start
    problems: list[str] = field(default_factory=list)


def clear_message(text: str) -> bool:
    t = (text or "").strip()
    return bool(t) and t not in ("None", "null") and not any(u in t for u in UNCLEAR)


def classify_exception(e: BaseException) -> tuple[str, str]:
    """(outcome, message) for an exception raised by gradio_client."""
    if isinstance(e, (TimeoutError, FutureTimeout)) or type(e).__name__ in (
            "ReadTimeout", "ConnectTimeout", "PoolTimeout", "WriteTimeout"):
        return "hung", f"{type(e).__name__}: no answer in time"
    msg = str(e).strip() or type(e).__name__
    if type(e).__name__ == "QueueError" or any(w in msg.lower() for w in QUEUE_WORDS):
        return "rejected", msg
    if type(e).__name__ in ("AppError", "ValidationError") and clear_message(msg):
        return "rejected", msg                 # gradio's own validation, e.g. a slider's range
    return "errored", f"{type(e).__name__}: {msg}"


def strip_icon(markdown: str) -> str:
    return re.sub(r"^\W+\s*", "", markdown or "").strip()


def classify_message(values: list, message_index: int | None) -> tuple[str, str]:
    """(outcome, message) for a result: the message line decides (handled errors come back
    as a message with every other output unchanged)."""
    msg = values[message_index] if message_index is not None else ""
    if isinstance(msg, dict):                     # {"__type__": "update"}: left as it was
        msg = ""
    msg = msg or ""
    if not msg.strip():
        unchanged = all(isinstance(v, dict) and v.get("__type__") == "update" and len(v) == 1
                        for v in values)
        return ("errored", "no result and no message") if values and unchanged else ("ok", "")
    text = strip_icon(msg)
    if msg.lstrip().startswith("ℹ"):
        return "ok", text
    if text.startswith("Something went wrong") or not clear_message(text):
        return "errored", text
    return "rejected", text


def strings_of(value, parse_json: bool = False):
    """Every string inside a returned value (plots: the figure's JSON, parsed)."""
    if isinstance(value, str):
        if parse_json and value[:1] in "{[":
            try:
                yield from strings_of(json.loads(value))
                return
            except ValueError:
                pass
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings_of(v, parse_json)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings_of(v, parse_json)


def live_elements(values: list, types: list[str]) -> list[str]:
    """The live-element patterns found in HTML / Markdown / plot outputs, with where:
    ["<a href in output 3 (plot)", ...]."""
    found = []
    for i, (value, kind) in enumerate(zip(values, types)):
        if kind in ("html", "markdown"):
            names = LIVE
        elif kind == "plot":
            names = {k: LIVE[k] for k in LIVE_IN_PLOTS}
        else:
            continue                               # labels, images, sliders: shown as text
        hits = {name for s in strings_of(value, parse_json=kind == "plot")
                for name, rx in names.items() if rx.search(s)}
        found += [f"{name} in output {i} ({kind})" for name in sorted(hits)]
    return found
