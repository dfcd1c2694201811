"""Glass-box benchmark section (run by `python -m mminspect.bench --only glassbox`).

What is timed, on the bundled MiniLM, a text of 32 tokens (specials included), layer 2, head 3:

- trace: one whole `mi.trace_head(model, text, layer=2, head=3)` call: the text checked and
  tokenized, one forward with attentions and hidden states and the layer's hooks, the
  layer's weights read, every head recomputed, the errors measured, the numpy result built.
- bare forward (the baseline, same run): `model.model(**inputs)` on the already tokenized
  text under `torch.no_grad()`, without attentions or hidden states: the least a model call
  costs.
- check: one whole `mi.check_attention(correct_attention, model, layer=2, text=text)` (the
  user's function called 13 times plus every variant once), shown without a target.

The candidates take turns in each round (a load spike hits one round of each, not all rounds of
one); the figure is the median of the rounds. Goal: trace <= 50 ms at 32 tokens.
"""
from __future__ import annotations

import os
import statistics
import time

import torch

import mminspect as mi
from mminspect.explain.attention_variants import correct_attention

from .bench_text import text_with_n_tokens

TRACE_GOAL_MS = 50.0
LAYER, HEAD = 2, 3


def _interleaved(fns: dict, rounds: int) -> dict[str, list[float]]:
    """{name: [wall seconds per round]}, the candidates taking turns in each round."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return times


def run(repeats: int) -> dict:
    rounds = max(5, repeats)
    model = mi.load("minilm")
    text = text_with_n_tokens(model.tokenizer, 32)
    enc = model.encode(text)
    n_tokens = len(enc.tokens)

    def bare():
        with torch.no_grad():
            model.model(**enc.inputs)

    tr = mi.trace_head(model, text, layer=LAYER, head=HEAD)               # warm-up
    bare()
    fns = {"trace": lambda: mi.trace_head(model, text, layer=LAYER, head=HEAD), "bare": bare}
    times = _interleaved(fns, rounds)
    check_times = _interleaved({"check": lambda: mi.check_attention(
        correct_attention, model, layer=LAYER, text=text)}, max(3, rounds // 5))["check"]
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}       # ms
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    f = {"tokens": n_tokens, "rounds": rounds, "threads": torch.get_num_threads(),
         "load_average": load, "trace_ms": med["trace"], "bare_forward_ms": med["bare"],
         "trace_over_bare": med["trace"] / med["bare"],
         "trace_min_ms": min(times["trace"]) * 1000, "bare_min_ms": min(times["bare"]) * 1000,
         "check_attention_ms": statistics.median(check_times) * 1000,
         "trace_max_error": tr.max_error}
    checks = [
        (f"trace_head MiniLM, {n_tokens} tokens, whole call (ms)", med["trace"], TRACE_GOAL_MS,
         f"median of {rounds} rounds interleaved with a bare forward (min {f['trace_min_ms']:.1f} "
         f"ms); {f['threads']} threads; load average {load} (a shared machine inflates ms)"),
        ("trace_head / bare forward of the same text", f["trace_over_bare"], 3.0,
         f"bare forward (no attentions, no hidden states, no_grad): median {med['bare']:.1f} ms; "
         f"the trace adds tokenizing, attentions + hidden states, hooks and the recomputation. "
         f"No outside target (ours: 3x). check_attention whole call, no target: "
         f"{f['check_attention_ms']:.0f} ms"),
    ]
    return {"checks": checks, **f}
