"""One client: the input files it sends (made once per run) and a gradio_client session
that times and classifies each call."""
from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image, ImageDraw

from .messages import Result, classify_exception, classify_message


class RunClock(Protocol):
    """What a session reads of the run that owns it (runner.Runner): the time limit of one
    request and when the run started. Read at each call (the runner may restart its clock),
    and named here as a protocol so this module does not import the runner, which imports
    the cases, which import this module."""

    timeout: float
    t0: float


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
        from ... import api                         # the bundled example scenes
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

    def __init__(self, url: str, index: int, runner: RunClock):
        from gradio_client import Client
        self.url, self.index, self.runner = url, index, runner
        self.client = Client(url, verbose=False, download_files=False)
        config = in_english(self.client.config)
        self.outputs = endpoint_outputs(config)
        self.custom_visible = custom_box_visible(config)
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


MARKER = "__i18n__"          # how the page's config names a translated text (gr.I18n)


def in_english(config: dict) -> dict:
    """The app's config with every translation marker (the page shows its texts in English
    or Chinese) replaced by its English text, as the harness looks controls up by label."""
    english = (config.get("i18n_translations") or {}).get("en") or {}

    def plain(x):
        if isinstance(x, str) and x.startswith(MARKER):
            try:
                return english.get(json.loads(x[len(MARKER):])["key"], x)
            except (ValueError, KeyError, TypeError):
                return x
        if isinstance(x, list):
            return [plain(v) for v in x]
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        return x
    return {**config, "components": plain(config.get("components", []))}


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
    with urllib.request.urlopen(f"{base}/{event_id}", timeout=timeout) as r:
        return read_stream(raw.decode(errors="replace").rstrip("\n") for raw in r)


def read_stream(lines, deadline: float | None = None) -> tuple[str, str]:
    """(event, data) of the first "complete" or "error" event of gradio's event stream (the
    last event seen if the stream ends first); ("hung", why) past `deadline` (monotonic
    seconds; heartbeats alone never end a stream)."""
    event, payload = "", ""
    for line in lines:
        if deadline is not None and time.monotonic() > deadline:
            return "hung", "no answer in time"
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            payload = line[5:].strip()
            if event in ("complete", "error"):
                break
    return event, payload
