"""`python -m mminspect.lab.load`: the load, abuse and soak suite, against a server on loopback.

    python -m mminspect.lab.load [--clients 8] [--requests 60] [--seed 0] [--json out.json]
    python -m mminspect.lab.load --soak 200          # 200 requests, a third of them large images
    python -m mminspect.lab.load --url http://127.0.0.1:7860/    # a running server (loopback only)

It starts the app (`python app.py`, GRADIO_SERVER_NAME=127.0.0.1, its own gradio cache folder) on
a free port, warms it up with one ordinary request of each kind, then runs `--clients` threads,
each with its own gradio_client.Client and session, through a seeded plan of mixed requests:
text inspect (short / long), redraw, bertviz, attribution (one method), compare-all on a short
text, image inspect (example scene, 3000 px and, in the soak, 6000 px JPEG uploads), every image
method, and the abuse cases of issue 16 (each must get the app's own clear message or a correct
result, never a traceback, and the app keeps serving). After the run a second server with
MMINSPECT_ALLOW_CUSTOM_MODELS=0 is asked about server paths: its messages must not say whether
a path exists.

Every request ends as exactly one of
    ok        a result, no message (or an information note);
    rejected  the app's (or gradio's) clear refusal: a limit, a validation message, a full queue
              or a client already holding its share of model slots (then the client waits 2 s
              before its next request, as a person would);
    errored   "Something went wrong…", gradio's "upstream … raised an exception", no message;
    hung      no answer within --timeout seconds (the run fails).
Invariant: submitted = ok + rejected + errored, hung = 0. Exit status 1 if the invariant
fails, a request hung, an ordinary request errored, an abuse check failed, the app stopped
serving, or the server's RSS at the end is more than --rss-limit (15 %) above its RSS after the
warm-up. RSS is read from /proc/<pid>/status (VmRSS, VmHWM) every half second. Before the end
every client asks a short text and the example scene in its own session (CLOSING): gradio keeps
a session's last results for an hour after its client leaves, so the end shows what large
requests leave behind, and "after_run" (before those) what the open sessions hold.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import numpy as np
from PIL import Image, ImageDraw

from .provenance import ROOT, code_version, provenance

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


# ---------------------------------------------------------------------------- the inputs


def pattern_image(side: int, seed: int) -> Image.Image:
    """A smooth picture with shapes (compresses to a few MB as JPEG even at 6000 px)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    a, b = rng.uniform(0.5, 3, 2)
    rgb = np.stack([(np.sin(a * 6 * x) + 1) * 127, (np.cos(b * 6 * y) + 1) * 127,
                    (x + y) * 127], -1).astype(np.uint8)
    im = Image.fromarray(rgb)
    draw = ImageDraw.Draw(im)
    for _ in range(6):
        cx, cy, r = rng.uniform(0.1, 0.9) * side, rng.uniform(0.1, 0.9) * side, side * 0.08
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    return im


class Inputs:
    """Files the requests upload, made once in `folder`."""

    VARIANTS = 3                 # distinct large images, so uploads and outputs are not all one file

    def __init__(self, folder: Path):
        self.folder = folder
        self.lock = threading.Lock()
        self._made: dict[str, Path] = {}
        from .. import api                          # the bundled example scenes
        title = api.list_examples()[0]
        example = api.load_example(title)
        self.scene_prompts = "\n".join(example.prompts)
        self.scene_title = title
        example.image.save(self.path("scene.png", make=False))
        self._made["scene.png"] = self.path("scene.png", make=False)

    def path(self, name: str, make: bool = True) -> Path:
        p = self.folder / name
        if not make:
            return p
        with self.lock:
            if name not in self._made:
                self._make(name, p)
                self._made[name] = p
        return p

    def _make(self, name: str, p: Path) -> None:
        if name.startswith("large"):               # large_<side>_<variant>.jpg
            _, side, variant = p.stem.split("_")
            pattern_image(int(side), int(variant)).save(p, quality=85)
        elif name == "corrupt.png":                # a PNG signature, then garbage
            p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
        elif name == "text.png":                   # a text file renamed .png
            p.write_text("This is not an image, only text with a .png name.\n" * 20)
        elif name == "bomb.png":                   # 20000 x 20000, 1 bit: ~50 KB on disk
            Image.new("1", (20000, 20000)).save(p)
        else:
            raise KeyError(name)

    def large(self, side: int, rng: random.Random) -> Path:
        return self.path(f"large_{side}_{rng.randrange(self.VARIANTS)}.jpg")


# ---------------------------------------------------------------------------- one client


class Session:
    """One gradio_client.Client (one session on the server) and what its requests need."""

    def __init__(self, url: str, index: int, runner: "Runner"):
        from gradio_client import Client
        self.url, self.index, self.runner = url, index, runner
        self.client = Client(url, verbose=False, download_files=False)
        self.outputs = endpoint_outputs(self.client.config)
        self.custom_visible = custom_box_visible(self.client.config)
        self.prompts: list[str] = []             # of the last image Inspect that succeeded

    def call(self, case: str, endpoint: str, kwargs: dict, phase: str) -> Result:
        return self.finish(case, endpoint, phase, self.submit(endpoint, kwargs))

    def submit(self, endpoint: str, kwargs: dict):
        t0 = time.perf_counter()
        try:
            return t0, self.client.submit(api_name=endpoint, **kwargs), None
        except Exception as e:  # noqa: BLE001 - an upload refused etc.: classified below
            return t0, None, e

    def finish(self, case: str, endpoint: str, phase: str, submitted) -> Result:
        t0, job, error = submitted
        types, message_index = self.outputs.get(endpoint, ([], None))
        values = None
        if error is None:
            try:
                values = job.result(timeout=max(1.0, self.runner.timeout - (time.perf_counter() - t0)))
            except BaseException as e:  # noqa: BLE001
                error = e
        seconds = time.perf_counter() - t0
        res = Result(case, endpoint, phase, "ok", seconds, client=self.index,
                     started=t0 - self.runner.t0)
        if error is not None:
            res.outcome, res.message = classify_exception(error)
            if res.outcome == "hung" and job is not None:
                job.cancel()
            return res
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        res.outcome, res.message = classify_message(values, message_index)
        if endpoint == "/inspect_clip" and res.outcome == "ok":
            prompts = [v for v, t in zip(values, types) if t == "dropdown"][:1]
            if prompts and isinstance(prompts[0], dict) and prompts[0].get("choices"):
                self.prompts = [c[0] if isinstance(c, (list, tuple)) else c
                                for c in prompts[0]["choices"]]
        res.values, res.types = values, types          # for the case's own check (not saved)
        return res


def endpoint_outputs(config: dict) -> dict[str, tuple[list[str], int | None]]:
    """{"/inspect_text": ([output types], index of the message line)} from the app's config
    (gradio_client leaves State outputs out of what it returns)."""
    comps = {c["id"]: c for c in config["components"]}
    out = {}
    for dep in config["dependencies"]:
        if not dep.get("api_name"):
            continue
        kept = [comps[o] for o in dep["outputs"] if comps[o]["type"] != "state"]
        types = [c["type"] for c in kept]
        message = next((i for i, c in enumerate(kept)
                        if "mm-message" in (c.get("props", {}).get("elem_classes") or [])), None)
        out["/" + dep["api_name"]] = (types, message)
    return out


def custom_box_visible(config: dict) -> bool:
    return any(c.get("props", {}).get("label", "").startswith("…or a Hugging Face id")
               and c.get("props", {}).get("visible", True) for c in config["components"])


def raw_call(url: str, api_name: str, data: list, timeout: float) -> tuple[str, str]:
    """A call without gradio_client (which would fill in missing arguments): POST, then read
    the event stream. -> (event, data) e.g. ("error", "null") or ("complete", "[...]")."""
    base = url.rstrip("/") + f"/gradio_api/call/{api_name.strip('/')}"
    req = urllib.request.Request(base, data=json.dumps({"data": data}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            event_id = json.loads(r.read())["event_id"]
    except urllib.error.HTTPError as e:
        return f"http {e.code}", e.read().decode(errors="replace")[:500]
    event, payload = "", ""
    with urllib.request.urlopen(f"{base}/{event_id}", timeout=timeout) as r:
        for raw in r:
            line = raw.decode(errors="replace").rstrip("\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                payload = line[5:].strip()
                if event in ("complete", "error"):
                    break
    return event, payload


# ---------------------------------------------------------------------------- the cases
# A case: (session, rng) -> [Result]; it fills `problems` when the answer is not what the app
# owes that input. Abuse cases are listed in ABUSE.


def text_kwargs(text=SHORT, compare=SHORT_B, labels=LABELS, **kw) -> dict:
    return {"model_name": "minilm", "custom_model": "", "text": text, "compare_to": compare,
            "labels_text": labels, "temperature": 0.05, "hide_special": False, "layer": 0,
            "head": 0} | kw


def attr_kwargs(method="saliency", text=SHORT, **kw) -> dict:
    return {"model_name": "minilm", "custom_model": "", "text": text, "target_kind": "similarity",
            "compare": SHORT_B, "labels_text": LABELS, "label": "", "choice": "",
            "method": method, "baseline": "pad", "level": "word"} | kw


def clip_kwargs(path: Path, prompts: str, **kw) -> dict:
    from gradio_client import handle_file
    return {"model_name": "miniclip", "custom_model": "", "data": handle_file(str(path)),
            "prompts_text": prompts, "template": ""} | kw


def queue_refused(res: Result) -> bool:
    """Refused by the queue (full, or the client already holds its share of model slots):
    the request never reached the app's own checks."""
    return res.outcome == "rejected" and any(w in res.message.lower() for w in QUEUE_WORDS)


def expect(res: Result, outcomes=("rejected",), words: tuple[str, ...] = ()) -> Result:
    """The answer must be one of `outcomes`; a refusal must be clear and name one of `words`.
    A queue refusal is fine but does not exercise the case (see `summarise`)."""
    if queue_refused(res):
        return res
    if res.outcome not in outcomes:
        res.problems.append(f"expected {'/'.join(outcomes)}, got {res.outcome}: {res.message[:200]!r}")
    elif res.outcome == "rejected" and not clear_message(res.message):
        res.problems.append(f"unclear refusal: {res.message[:200]!r}")
    elif res.outcome == "rejected" and words and not any(w in res.message.lower() for w in words):
        res.problems.append(f"the refusal does not say why ({'/'.join(words)}): {res.message[:200]!r}")
    return res


def no_live_html(res: Result) -> Result:
    found = live_elements(getattr(res, "values", []), getattr(res, "types", []))
    if found:
        res.problems.append(f"user text came back as live HTML: {', '.join(found)}")
    return expect(res, ("ok", "rejected"))


def case_text_short(s: Session, rng):
    return [s.call("text_short", "/inspect_text", text_kwargs(), "run")]


def case_text_long(s: Session, rng):
    return [s.call("text_long", "/inspect_text", text_kwargs(text=LONG), "run")]


def case_redraw(s: Session, rng):
    return [s.call("redraw", "/redraw_text", {"layer": rng.randrange(6), "head": rng.randrange(12),
                                              "hide_special": rng.random() < 0.5}, "run")]


def case_bertviz(s: Session, rng):
    return [s.call("bertviz", "/bertviz", {"which": rng.choice(["head view", "model view"])}, "run")]


def case_attribute(s: Session, rng, method: str | None = None):
    return [s.call("attribute", "/attribute_text", attr_kwargs(method or rng.choice(ATTR_METHODS)),
                   "run")]


def case_compare_all(s: Session, rng):
    kw = attr_kwargs(text="The cat sat on the mat.")
    kw.pop("method")
    return [s.call("compare_all", "/compare_attributions", kw, "run")]


def case_image_scene(s: Session, rng):
    ins = s.runner.inputs
    return [s.call("image_scene", "/inspect_clip",
                   clip_kwargs(ins.path("scene.png"), ins.scene_prompts), "run")]


def image_of_side(side: int, case: str):
    def run(s: Session, rng):
        path = s.runner.inputs.large(side, rng)
        return [s.call(case, "/inspect_clip", clip_kwargs(path, "a red circle\na blue square\na photo"),
                       "run")]
    run.__name__ = f"case_{case}"
    return run


def case_explain_methods(s: Session, rng):
    # the prompt must be one of this session's last Inspect (gradio checks the dropdown's choices)
    prompt = s.prompts[0] if s.prompts else "a red star"
    return [s.call("explain_methods", "/explain_methods",
                   {"model_name": "miniclip", "custom_model": "", "prompt": prompt}, "run")]


def abuse_file(case: str, name: str, words: tuple[str, ...]):
    def run(s: Session, rng):
        res = s.call(case, "/inspect_clip", clip_kwargs(s.runner.inputs.path(name), "a cat\na dog"),
                     "run")
        return [expect(res, ("rejected",), words)]
    return run


def case_labels_500(s: Session, rng):
    labels = ", ".join(f"label number {i}" for i in range(500))
    res = s.call("labels_500", "/attribute_text",
                 attr_kwargs("saliency", target_kind="zero_shot", labels_text=labels), "run")
    return [expect(res, ("rejected",), ("label",))]


def case_text_30k(s: Session, rng):
    res = s.call("text_30k", "/inspect_text", text_kwargs(text=("lorem ipsum " * 2500)[:30_000]), "run")
    return [expect(res, ("rejected", "ok"), ("character", "limit", "long"))]


def case_xss_text(s: Session, rng):
    res = s.call("xss_text", "/inspect_text",
                 text_kwargs(text=f"The cat {XSS} sat.", compare=XSS, labels=f"{XSS}, weather"), "run")
    return [no_live_html(res)]


def case_xss_attr(s: Session, rng):
    res = s.call("xss_attr", "/attribute_text",
                 attr_kwargs("saliency", text=f"The cat {XSS} sat.", target_kind="zero_shot",
                             labels_text=f"{XSS}, finance", label=XSS), "run")
    return [no_live_html(res)]


def case_xss_clip(s: Session, rng):
    res = s.call("xss_clip", "/inspect_clip",
                 clip_kwargs(s.runner.inputs.path("scene.png"), f"{XSS}\na red star"), "run")
    return [no_live_html(res)]


def case_server_path(s: Session, rng):
    res = s.call("server_path", "/inspect_text",
                 text_kwargs(custom_model=rng.choice(PATHS_PROBED)), "run")
    return [expect(res, ("rejected",))]


def case_slider_text(s: Session, rng):
    res = s.call("slider_text", "/inspect_text", text_kwargs(temperature="abc", layer="x"), "run")
    return [expect(res, ("rejected",))]


def case_too_few_args(s: Session, rng):
    t0 = time.perf_counter()
    try:
        event, payload = raw_call(s.url, "/inspect_text", ["minilm"], s.runner.timeout)
    except Exception as e:  # noqa: BLE001
        outcome, message = classify_exception(e)
    else:
        if event == "complete":
            try:
                values = json.loads(payload)
            except ValueError:
                values = []
            types, index = s.outputs.get("/inspect_text", ([], None))
            outcome, message = classify_message(values, index)
        else:
            try:
                message = json.loads(payload)
            except ValueError:
                message = payload
            if isinstance(message, dict):              # gradio: {"error": "..."} or {"error": null}
                message = message.get("error")
            message = "" if message is None else str(message)
            outcome = "rejected" if clear_message(message) else "errored"
    res = Result("too_few_args", "/inspect_text", "run", outcome, time.perf_counter() - t0,
                 message or f"{event}: {payload}"[:300], s.index, t0 - s.runner.t0)
    return [expect(res, ("rejected",))]


def case_flood(s: Session, rng):
    """One client asks for three model events at once: the server keeps only its share."""
    jobs = [s.submit("/inspect_text", text_kwargs()) for _ in range(3)]
    out = [s.finish("flood", "/inspect_text", "run", j) for j in jobs]
    for r in out:
        expect(r, ("ok", "rejected"))
    if not any(r.outcome == "rejected" for r in out):
        out[-1].problems.append("three model events at once from one session: none was refused")
    return out


NORMAL: dict[str, Callable] = {
    "text_short": case_text_short, "text_long": case_text_long, "redraw": case_redraw,
    "bertviz": case_bertviz, "attribute": case_attribute, "compare_all": case_compare_all,
    "image_scene": case_image_scene, "image_large": image_of_side(3000, "image_large"),
    "image_huge": image_of_side(6000, "image_huge"), "explain_methods": case_explain_methods}
ABUSE: dict[str, Callable] = {
    "corrupt_png": abuse_file("corrupt_png", "corrupt.png", ("image",)),
    "text_png": abuse_file("text_png", "text.png", ("image",)),
    "bomb_png": abuse_file("bomb_png", "bomb.png", ("megapixel", "pixels", "too large", "limit")),
    "labels_500": case_labels_500, "text_30k": case_text_30k, "xss_text": case_xss_text,
    "xss_attr": case_xss_attr, "xss_clip": case_xss_clip, "server_path": case_server_path,
    "slider_text": case_slider_text, "too_few_args": case_too_few_args, "flood": case_flood}
CASES = NORMAL | ABUSE
NEEDS = {"redraw": "text", "bertviz": "text", "explain_methods": "image"}   # a state to draw from
SETS = {"text_short": "text", "text_long": "text", "xss_text": "text", "image_scene": "image",
        "image_large": "image", "image_huge": "image", "xss_clip": "image"}

# Relative frequencies of the cases in a plan (each abuse case also appears at least once).
MIX = {"text_short": 14, "text_long": 6, "redraw": 12, "bertviz": 3, "attribute": 8,
       "compare_all": 3, "image_scene": 10, "image_large": 5, "explain_methods": 1,
       **{name: 1 for name in ABUSE}}
# The soak: large uploads take a third of the requests.
SOAK_MIX = {"text_short": 10, "text_long": 5, "redraw": 8, "attribute": 6, "compare_all": 2,
            "image_scene": 8, "image_large": 10, "image_huge": 20, "explain_methods": 1,
            **{name: 1 for name in ABUSE}}
# One ordinary request of each kind (every attribution method once); no large image, so the
# RSS after it is what ordinary use needs.
# What every client asks last, in its own session, once all plans are done. gradio keeps each
# session's last results (gr.State) until an hour after its client leaves, and a 374-token text
# keeps 38 MB of attention maps there (MiniLM): the RSS at the end should show what large
# requests leave behind, not which client happened to inspect a long text last. The RSS
# before these ("after_run") shows the sessions' share.
CLOSING = ("text_short", "image_scene")
WARM_UP = ("text_short", "text_long", "redraw", "bertviz", *(f"attribute:{m}" for m in ATTR_METHODS),
           "compare_all", "image_scene", "explain_methods")


def make_plan(clients: int, per_client: int, seed: int, mix: dict[str, int] = MIX,
              must: tuple[str, ...] = tuple(ABUSE)) -> list[list[str]]:
    """Each client's list of case names: it starts with a short text inspect; every name in
    `must` appears at least once overall; the rest are drawn from `mix`; a case that draws
    from a state (redraw, every image method) comes after one that makes it."""
    rng = random.Random(seed)
    total = clients * per_client
    rest = max(0, total - clients)
    pool = list(must)[:rest]
    names, weights = zip(*mix.items())
    pool += rng.choices(names, weights, k=rest - len(pool))
    rng.shuffle(pool)
    plans = [["text_short"] for _ in range(clients)]
    for i, name in enumerate(pool):
        plans[i % clients].append(name)
    for plan in plans:
        have = set()
        for i, name in enumerate(plan):
            if NEEDS.get(name) and NEEDS[name] not in have:
                plan[i] = "image_scene" if NEEDS[name] == "image" else "text_short"
            have.add(SETS.get(plan[i], ""))
    return [p[:per_client] for p in plans]


# ---------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_url(url: str) -> str:
    """The URL, if it points at this machine's loopback; a ValueError otherwise."""
    u = urlparse(url)
    host = u.hostname or ""
    ok = host == "localhost"
    try:
        ok = ok or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if u.scheme not in ("http", "https") or not ok:
        raise ValueError(f"{url!r} is not a loopback URL: the load suite only targets "
                         "127.0.0.0/8, ::1 or localhost (never a public server).")
    return url if url.endswith("/") else url + "/"


class Server:
    """`python app.py` on a free loopback port, with its own gradio cache folder."""

    def __init__(self, folder: Path, env: dict[str, str] | None = None, name: str = "server"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.cache = folder / f"{name}-gradio-cache"
        self.log_path = folder / f"{name}.log"
        full = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_SERVER_NAME": "127.0.0.1",
                "GRADIO_TEMP_DIR": str(self.cache), "TOKENIZERS_PARALLELISM": "false",
                **(env or {})}
        full.setdefault("HF_HUB_OFFLINE", "1")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(self.port)],
                                     cwd=ROOT, env=full, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float = 300) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "config", timeout=5) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        self.log.flush()
        return self.log_path.read_bytes()[-n:].decode(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def pid_listening_on(port: int) -> int | None:
    """The process that listens on a loopback TCP port (for --url), from /proc."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{parts[9]}]")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


def memory_mb(pid: int | None) -> dict[str, float] | None:
    """{"rss": VmRSS, "hwm": VmHWM} in MB, from /proc/<pid>/status."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    out = {}
    for key, name in (("VmRSS", "rss"), ("VmHWM", "hwm")):
        m = re.search(rf"^{key}:\s+(\d+) kB", status, re.M)
        if m:
            out[name] = int(m.group(1)) / 1024
    return out or None


class RssSampler(threading.Thread):
    def __init__(self, pid: int | None, t0: float, every: float = 0.5):
        super().__init__(daemon=True, name="rss-sampler")
        self.pid, self.t0, self.every = pid, t0, every
        self.samples: list[tuple[float, float]] = []          # (seconds since start, MB)
        self.marks: dict[str, float] = {}
        self.stopped = threading.Event()

    def sample(self) -> float | None:
        m = memory_mb(self.pid)
        if m and "rss" in m:
            self.samples.append((round(time.perf_counter() - self.t0, 2), round(m["rss"], 1)))
            return m["rss"]
        return None

    def mark(self, name: str) -> float | None:
        self.marks[name] = round(time.perf_counter() - self.t0, 2)
        return self.sample()

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            self.sample()


def cache_files(folder: Path | None) -> dict | None:
    if folder is None or not folder.exists():
        return None
    files = [p for p in folder.rglob("*") if p.is_file()]
    return {"files": len(files), "mb": round(sum(p.stat().st_size for p in files) / 2**20, 2)}


# ---------------------------------------------------------------------------- the run


class Runner:
    def __init__(self, url: str, inputs: Inputs, timeout: float, seed: int):
        self.url, self.inputs, self.timeout, self.seed = url, inputs, timeout, seed
        self.t0 = time.perf_counter()
        self.results: list[Result] = []
        self.lock = threading.Lock()
        self.backoff_s = 2.0                  # pause after a queue refusal

    def run_case(self, session: Session, name: str, rng: random.Random, phase: str) -> list[Result]:
        base, _, arg = name.partition(":")            # "attribute:lime": one given method
        try:
            out = CASES[base](session, rng, *([arg] if arg else []))
        except Exception as e:  # noqa: BLE001 - a fault of this suite, not of the server
            out = [Result(name, "?", phase, "errored", 0.0, f"load suite: {type(e).__name__}: {e}",
                          session.index, problems=[f"the case itself failed: {e!r}"])]
        for r in out:
            r.phase = phase
            if r.outcome != "hung" and not clear_message(r.message) and r.message:
                if not any(p.startswith("unclear") for p in r.problems):
                    r.problems.append(f"message not the app's own: {r.message[:200]!r}")
            for attr in ("values", "types"):
                r.__dict__.pop(attr, None)
        with self.lock:
            self.results.extend(out)
        return out

    def run_clients(self, plans: list[list[str]], phase: str = "run", closing: tuple[str, ...] = (),
                    between: Callable[[], None] | None = None) -> None:
        """Each plan in its own thread and session. closing: cases every client runs in its
        own session once all plans are done (phase "close"); between(): called once, after
        the plans and before the closing cases."""
        errors = []
        n = len(plans)
        done, go = threading.Barrier(n + 1), threading.Barrier(n + 1)

        def worker(i: int, plan: list[str]):
            s = None
            try:
                s = Session(self.url, i, self)
            except Exception as e:  # noqa: BLE001
                errors.append(f"client {i} could not connect: {e!r}")
            rng = random.Random(self.seed * 1000 + i)
            for name in plan if s else ():
                out = self.run_case(s, name, rng, phase)
                if any(map(queue_refused, out)):     # as a person would: wait, then go on
                    time.sleep(self.backoff_s)
            if closing:
                done.wait()
                go.wait()
                for name in closing if s else ():
                    self.run_case(s, name, rng, "close")
            if s:
                s.client.close()

        threads = [threading.Thread(target=worker, args=(i, p), name=f"load-client-{i}")
                   for i, p in enumerate(plans)]
        for t in threads:
            t.start()
        if closing:
            done.wait()
            if between:
                between()
            go.wait()
        for t in threads:
            t.join()
        if errors:
            raise RuntimeError("; ".join(errors))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)                                   # nearest rank
    return round(v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))], 3)


def tally(results: list[Result], key: str) -> dict:
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(getattr(r, key), []).append(r)
    out = {}
    for name, rs in sorted(groups.items()):
        ok = [r.seconds for r in rs if r.outcome == "ok"]
        out[name] = {"n": len(rs), **{o: sum(r.outcome == o for r in rs)
                                      for o in ("ok", "rejected", "errored", "hung")},
                     "p50_ok_s": percentile(ok, 50), "p95_ok_s": percentile(ok, 95),
                     "p50_all_s": percentile([r.seconds for r in rs], 50),
                     "p95_all_s": percentile([r.seconds for r in rs], 95)}
    return out


def probe_paths(url: str, inputs: Inputs, timeout: float, t0: float) -> tuple[list[Result], list[str]]:
    """On a server with custom models off: the answer to every server path must be the same
    (after the path itself is blanked), so a visitor learns nothing about the file system."""
    runner = Runner(url, inputs, timeout, 0)
    runner.t0 = t0
    s = Session(url, -1, runner)
    results = []
    for path in PATHS_PROBED:
        r = s.call("path_probe_custom_off", "/inspect_text", text_kwargs(custom_model=path), "probe")
        expect(r, ("rejected",))
        r.__dict__.pop("values", None), r.__dict__.pop("types", None)
        results.append(r)
    s.client.close()
    problems = []
    if s.custom_visible:
        problems.append("custom models are on on the probe server (the model box is visible)")
    blanked = {r.message.replace(p, "<path>") for r, p in zip(results, PATHS_PROBED)}
    if len(blanked) > 1:
        problems.append(f"different answers for different server paths: {sorted(blanked)}")
    return results, problems


def run(url: str | None = None, clients: int = 8, requests: int = 60, seed: int = 0,
        timeout: float = 600.0, soak: int | None = None, rss_limit: float = 0.15,
        plans: list[list[str]] | None = None, warm_up: tuple[str, ...] = WARM_UP,
        closing: tuple[str, ...] = CLOSING,
        probe: bool = True, pid: int | None = None, cache_dir: Path | None = None,
        settle_s: float = 5.0,
        log: Callable[[str], None] = print) -> dict:
    """The whole suite; returns the record (see `main` for what is printed)."""
    folder = Path(tempfile.mkdtemp(prefix="mminspect-load-"))
    servers: list[Server] = []
    try:
        if url is None:
            log("starting the app (python app.py) on loopback …")
            server = Server(folder)
            servers.append(server)
            server.wait_ready()
            url, pid, cache = server.url, server.pid, server.cache
        else:
            url = loopback_url(url)
            pid = pid or pid_listening_on(urlparse(url).port or 80)
            cache = cache_dir or Path(os.environ.get("GRADIO_TEMP_DIR")
                                      or Path(tempfile.gettempdir()) / "gradio")
        inputs = Inputs(folder)
        runner = Runner(url, inputs, timeout, seed)
        sampler = RssSampler(pid, runner.t0)
        sampler.start()
        rss = {"start": sampler.mark("start")}
        caches = {"start": cache_files(cache)}

        log(f"warm-up: {len(warm_up)} requests, one at a time …")
        if warm_up:
            runner.run_clients([list(warm_up)], phase="warm-up")
        time.sleep(settle_s)
        rss["after_warm_up"] = sampler.mark("after_warm_up")
        caches["after_warm_up"] = cache_files(cache)

        if plans is None:
            if soak:
                per = -(-soak // clients)
                plans = make_plan(clients, per, seed, SOAK_MIX)
                extra = sum(map(len, plans)) - soak       # exactly `soak` requests in all
                for p in plans[::-1][:extra]:
                    p.pop()
            else:
                plans = make_plan(clients, requests, seed)
        n_planned = sum(map(len, plans))
        log(f"run: {len(plans)} clients, {n_planned} planned requests, then "
            f"{len(closing)} closing requests each …")
        t_run = time.perf_counter()

        def after_run():
            time.sleep(settle_s)
            rss["after_run"] = sampler.mark("after_run")

        runner.run_clients(plans, phase="run", closing=closing, between=after_run)
        run_s = time.perf_counter() - t_run
        if not closing:
            after_run()
        time.sleep(settle_s)
        rss["end"] = sampler.mark("end")
        caches["end"] = cache_files(cache)

        health = runner.run_case(Session(url, -1, runner), "text_short", random.Random(0), "health")[0]
        sampler.stopped.set()
        sampler.join()
        hwm = (memory_mb(pid) or {}).get("hwm")

        probe_results, probe_problems = [], []
        if probe and servers:
            for s in servers:
                s.stop()
            log("probe: a second server with MMINSPECT_ALLOW_CUSTOM_MODELS=0, asked about server paths …")
            off = Server(folder, {"MMINSPECT_ALLOW_CUSTOM_MODELS": "0"}, name="custom-off")
            servers.append(off)
            off.wait_ready()
            probe_results, probe_problems = probe_paths(off.url, inputs, timeout, runner.t0)
        elif probe:
            probe_problems = ["skipped: --url given (start a server with "
                              "MMINSPECT_ALLOW_CUSTOM_MODELS=0 and pass --url to probe it)"]

        return summarise(runner, plans, closing, health, probe_results, probe_problems, rss, hwm,
                         sampler, caches, run_s, rss_limit, soak, pid, url, servers)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(folder, ignore_errors=True)


def summarise(runner, plans, closing, health, probe_results, probe_problems, rss, hwm, sampler,
              caches, run_s, rss_limit, soak, pid, url, servers) -> dict:
    results = [r for r in runner.results if r.phase in ("run", "close")]
    counted = results + probe_results
    submitted = len(counted)
    by = {o: sum(r.outcome == o for r in counted) for o in ("ok", "rejected", "errored", "hung")}
    planned = (sum(map(len, plans)) + len(closing) * len(plans)
               + 2 * sum(p.count("flood") for p in plans))                       # flood: 3 calls
    failures = []
    if by["hung"]:
        failures.append(f"{by['hung']} request(s) hung (no answer within {runner.timeout:.0f} s)")
    if submitted != by["ok"] + by["rejected"] + by["errored"] + by["hung"]:
        failures.append("invariant: submitted != ok + rejected + errored + hung")
    if len(results) != planned:
        failures.append(f"invariant: {planned} requests planned, {len(results)} answered")
    normal_errors = [r for r in results if r.case in NORMAL and r.outcome == "errored"]
    if normal_errors:
        failures.append(f"{len(normal_errors)} ordinary request(s) errored, e.g. "
                        f"{normal_errors[0].case}: {normal_errors[0].message[:150]!r}")
    warm_bad = [r for r in runner.results if r.phase == "warm-up" and r.outcome != "ok"]
    if warm_bad:
        failures.append(f"warm-up: {warm_bad[0].case} {warm_bad[0].outcome}: {warm_bad[0].message[:150]!r}")
    if health.outcome != "ok":
        failures.append(f"the app stopped serving: a short inspect after the run was "
                        f"{health.outcome} ({health.message[:150]!r})")
    checks: dict[str, dict] = {}
    for r in counted:
        c = checks.setdefault(r.case, {"n": 0, "exercised": 0, "failed": 0, "problems": []})
        c["n"] += 1
        c["exercised"] += not queue_refused(r)
        if r.problems:
            c["failed"] += 1
            c["problems"] += [p for p in r.problems if p not in c["problems"]][:3]
    for name, c in checks.items():
        if name in ABUSE and not c["exercised"]:
            c["failed"] += 1
            c["problems"].append("never reached the app: every try was refused by the queue")
    if probe_results or probe_problems:
        checks.setdefault("path_probe_custom_off", {"n": 0, "exercised": 0, "failed": 0,
                                                    "problems": []})
        checks["path_probe_custom_off"]["problems"] += probe_problems
        if probe_problems and not probe_problems[0].startswith("skipped"):
            checks["path_probe_custom_off"]["failed"] += 1
    bad = {k: v for k, v in checks.items() if v["failed"]}
    if bad:
        failures.append("checks failed: " + "; ".join(f"{k}: {v['problems'][0]}" for k, v in bad.items()))
    growth = None
    if rss.get("after_warm_up") and rss.get("end"):
        growth = rss["end"] / rss["after_warm_up"] - 1
        if growth > rss_limit:
            failures.append(f"RSS at the end {rss['end']:.0f} MB is {growth:+.1%} from "
                            f"{rss['after_warm_up']:.0f} MB after the warm-up (limit +{rss_limit:.0%})")
    peak = max((mb for _, mb in sampler.samples), default=None)
    image_requests = sum(r.endpoint == "/inspect_clip" for r in runner.results)
    cache_growth = None
    if caches.get("start") and caches.get("end"):
        cache_growth = caches["end"]["files"] - caches["start"]["files"]
    return {
        "mode": "soak" if soak else "load", "url": url, "server_pid": pid,
        "launched": bool(servers), "clients": len(plans), "requests_per_client": max(map(len, plans)),
        "timeout_s": runner.timeout, "run_seconds": round(run_s, 1),
        "submitted": submitted, **by, "rejected_by_queue": sum(map(queue_refused, counted)),
        "failures": failures, "passed": not failures,
        "per_endpoint": tally(counted, "endpoint"), "per_case": tally(counted, "case"),
        "checks": checks,
        "rss_mb": {"start": rss.get("start"), "after_warm_up": rss.get("after_warm_up"),
                   "peak_sampled": peak, "peak_hwm": hwm, "after_run": rss.get("after_run"),
                   "end": rss.get("end"), "growth": None if growth is None else round(growth, 4),
                   "limit": rss_limit, "marks_s": sampler.marks, "samples": sampler.samples},
        "gradio_cache": {**caches, "image_requests": image_requests,
                         "files_per_image_request": None if cache_growth is None or not image_requests
                         else round(cache_growth / image_requests, 1),
                         "note": "the app deletes cached files older than 3600 s every 600 s "
                                 "(delete_cache); a shorter run removes none"},
        "warm_up": [asdict(r) for r in runner.results if r.phase == "warm-up"],
        "health": asdict(health),
        "requests": [asdict(r) for r in counted],
    }


# ---------------------------------------------------------------------------- the report


def fmt(x, spec=".2f") -> str:
    return "—" if x is None else format(x, spec)


def report_text(rec: dict) -> str:
    lines = [f"{rec['mode']}: {rec['clients']} clients, {rec['submitted']} requests in "
             f"{rec['run_seconds']} s (timeout {rec['timeout_s']:.0f} s each)",
             f"submitted {rec['submitted']} = ok {rec['ok']} + rejected {rec['rejected']} + "
             f"errored {rec['errored']} (+ hung {rec['hung']}); {rec['rejected_by_queue']} of the "
             "rejected were refused by the queue (full, or the client's share of model slots)", "",
             f"{'endpoint':<24}{'n':>5}{'ok':>5}{'rej':>5}{'err':>5}{'hung':>5}"
             f"{'p50 ok s':>10}{'p95 ok s':>10}{'p95 all s':>10}"]
    for name, t in rec["per_endpoint"].items():
        lines.append(f"{name:<24}{t['n']:>5}{t['ok']:>5}{t['rejected']:>5}{t['errored']:>5}"
                     f"{t['hung']:>5}{fmt(t['p50_ok_s']):>10}{fmt(t['p95_ok_s']):>10}"
                     f"{fmt(t['p95_all_s']):>10}")
    lines += ["", f"{'case':<24}{'n':>5}{'ok':>5}{'rej':>5}{'err':>5}{'hung':>5}{'p50 ok s':>10}"
                  f"{'p95 ok s':>10}{'reached':>8}  check"]
    for name, t in rec["per_case"].items():
        c = rec["checks"].get(name, {})
        verdict = "FAIL: " + c["problems"][0][:90] if c.get("failed") else "pass"
        lines.append(f"{name:<24}{t['n']:>5}{t['ok']:>5}{t['rejected']:>5}{t['errored']:>5}"
                     f"{t['hung']:>5}{fmt(t['p50_ok_s']):>10}{fmt(t['p95_ok_s']):>10}"
                     f"{c.get('exercised', t['n']):>8}  {verdict}")
    probe = rec["checks"].get("path_probe_custom_off")
    if probe and probe["problems"]:
        lines.append(f"path probe (custom models off): {'; '.join(probe['problems'])}")
    m = rec["rss_mb"]
    growth = None if m["growth"] is None else 100 * m["growth"]
    lines += ["", f"server RSS (MB): start {fmt(m['start'], '.0f')}, after warm-up "
                  f"{fmt(m['after_warm_up'], '.0f')}, peak {fmt(m['peak_sampled'], '.0f')} (VmHWM "
                  f"{fmt(m['peak_hwm'], '.0f')}), after the run (each session holding its last "
                  f"results) {fmt(m['after_run'], '.0f')}, end (after a short closing request in "
                  f"each session) "
                  f"{fmt(m['end'], '.0f')} ({fmt(growth, '+.1f')} % from after warm-up; limit "
                  f"+{100 * m['limit']:.0f} %)"]
    if m["samples"]:
        step = max(1, len(m["samples"]) // 12)
        lines.append("RSS over time (s: MB): " + ", ".join(
            f"{t:.0f}: {mb:.0f}" for t, mb in m["samples"][::step] + m["samples"][-1:]))
    g = rec["gradio_cache"]
    if g.get("end"):
        lines.append(f"gradio cache: {g['start']['files'] if g.get('start') else '—'} files at the "
                     f"start, {g['after_warm_up']['files']} after warm-up, {g['end']['files']} "
                     f"({g['end']['mb']} MB) at the end; {g['image_requests']} image requests, "
                     f"{fmt(g['files_per_image_request'], '.1f')} files each ({g['note']})")
    lines += ["", "PASS" if rec["passed"] else "FAIL:\n  " + "\n  ".join(rec["failures"])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog=f"python -m {PROGRAM}", description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (threads)")
    p.add_argument("--requests", type=int, default=60, help="requests per client")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds one request may take, queue wait included, before it counts as hung")
    p.add_argument("--soak", type=int, metavar="N", default=None,
                   help="soak: N requests in all, a third of them 3000-6000 px image uploads")
    p.add_argument("--rss-limit", type=float, default=0.15,
                   help="allowed growth of RSS from after the warm-up to the end (0.15 = 15 %%)")
    p.add_argument("--url", help="a running server on loopback, instead of starting one")
    p.add_argument("--pid", type=int, help="the server's process id with --url (default: the "
                                           "process listening on its port)")
    p.add_argument("--cache-dir", type=Path, help="the server's gradio cache folder with --url "
                   "(default: $GRADIO_TEMP_DIR or <tmp>/gradio)")
    p.add_argument("--no-probe", action="store_true",
                   help="skip the second server (custom models off) asked about server paths")
    p.add_argument("--json", type=Path, help="write the record (with how it was made) here")
    a = p.parse_args(args)
    if a.clients < 1 or a.requests < 1 or (a.soak is not None and a.soak < a.clients):
        p.error("--clients and --requests must be >= 1, --soak >= --clients")
    if a.url:
        try:
            loopback_url(a.url)
        except ValueError as e:
            p.error(str(e))
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rec = run(url=a.url, clients=a.clients, requests=a.requests, seed=a.seed, timeout=a.timeout,
              soak=a.soak, rss_limit=a.rss_limit, probe=not a.no_probe, pid=a.pid,
              cache_dir=a.cache_dir)
    print(report_text(rec))
    if a.json:
        params = {"clients": a.clients, "requests": a.requests, "seed": a.seed,
                  "timeout": a.timeout, "soak": a.soak, "rss_limit": a.rss_limit, "url": a.url,
                  "probe": not a.no_probe, "mix": SOAK_MIX if a.soak else MIX,
                  "warm_up": list(WARM_UP), "closing": list(CLOSING)}
        prov = provenance(PROGRAM, args, params=params, code=("mminspect",))
        # The figures come from the server, a separate process (app.py): its code is every
        # module of the package, not just what this client process imported.
        files = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "mminspect").rglob("*.py"))
        prov["code"] = code_version(files + ["app.py"])
        a.json.write_text(json.dumps({**rec, "provenance": prov}, indent=1, default=str) + "\n")
        print(f"record written to {a.json}")
    return 0 if rec["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
