"""Text benchmark section (run by `python -m mminspect.bench`):

- `inspect_text` against a bare `model(**enc, output_attentions=True)` on a 32-token input,
  p50 of each, measured in the same run;
- cold start of `python app.py` to the first HTTP 200, and the largest update the app sends
  (a 512-token text's inspect and redraw, bertviz at its token limit), as the JSON the client
  receives.
"""
from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import torch

import mminspect as mi

from ..api.bertviz_views import max_bertviz_tokens

ROOT = Path(__file__).resolve().parents[2]


def p50(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def text_with_n_tokens(tokenizer, n: int) -> str:
    """A natural-looking text that tokenizes to exactly n tokens (specials included)."""
    words = ("the quick brown fox jumps over the lazy dog while a cat watches from the warm "
             "windowsill and the birds sing in the tall green trees near the quiet river ").split()
    text, i = "", 0
    while len(tokenizer(text)["input_ids"]) < n:
        text = f"{text} {words[i % len(words)]}".strip()
        i += 1
    return text


def text_latency(repeats: int) -> dict:
    model = mi.load("minilm")
    text = text_with_n_tokens(model.tokenizer, 32)
    enc = model.tokenizer(text, return_tensors="pt").to(model.device)

    def bare():
        with torch.no_grad():
            model.model(**enc, output_attentions=True)

    t_bare = p50(bare, repeats)
    t_ours = p50(lambda: mi.inspect_text(model, text), repeats)
    return {"tokens": len(enc["input_ids"][0]), "bare_forward_ms": 1e3 * t_bare,
            "inspect_text_ms": 1e3 * t_ours, "ratio": t_ours / t_bare}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc; nan elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def app_start_and_payloads(timeout: float = 120) -> dict:
    """Cold start (process start -> first HTTP 200), then the largest update it sends for a
    512-token text, measured as the JSON the client receives."""
    from gradio_client import Client
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited with code {proc.returncode}")
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"app.py did not answer within {timeout} s")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        cold = time.perf_counter() - t0
        cold_cpu = _cpu_seconds(proc.pid)        # on a shared machine, the load-free figure
        client = Client(url, verbose=False)
        long_text = " ".join(f"word{i}" for i in range(600))           # > 512 tokens: truncated
        sizes = {}
        out = client.predict("minilm", "", long_text, "a second text", "numbers, animals", 0.05,
                             False, 0, 0, api_name="/inspect_text")
        sizes["inspect_text"] = len(json.dumps(out))
        sizes["redraw_text"] = len(json.dumps(client.predict(5, 11, True, api_name="/redraw_text")))
        # bertviz refuses 512 tokens (a message); its largest update is at its token limit
        at_limit = " ".join(["cat"] * (max_bertviz_tokens(6, 12) - 2))   # MiniLM: 6 x 12 heads
        client.predict("minilm", "", at_limit, "", "", 0.05, False, 0, 0, api_name="/inspect_text")
        sizes["bertviz"] = len(json.dumps(client.predict("model view", api_name="/bertviz")))
        return {"cold_start_s": cold, "cold_start_cpu_s": cold_cpu, "payload_bytes": sizes, "max_payload_mb": max(sizes.values()) / 1e6}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run(repeats: int) -> dict:
    lat, app = text_latency(repeats), app_start_and_payloads()
    checks = [
        ("inspect_text / bare forward (32 tokens)", lat["ratio"], 2.0,
         f"{lat['inspect_text_ms']:.1f} ms vs {lat['bare_forward_ms']:.1f} ms"),
        ("largest UI update: 512 tokens, bertviz at limit (MB)", app["max_payload_mb"], 2.0,
         ", ".join(f"{k} {v / 1e3:.0f} kB" for k, v in app["payload_bytes"].items())),
        ("cold start to first HTTP 200 (s)", app["cold_start_s"], 15.0,
         f"{app['cold_start_cpu_s']:.1f} s of CPU in the app process (what it costs on an idle "
         f"machine); load average {os.getloadavg()[0]:.1f}"),
    ]
    return {"checks": checks, "text_latency": lat, "app": app}
