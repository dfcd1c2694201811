"""Compare benchmark section (run by `python -m mminspect.bench --only compare`).

What is timed, on the bundled MiniLM, texts of 32, 128 and 256 tokens (specials included),
text B = text A with "not" inserted after its fifth word:

- two runs (the baseline, same round): `mi.inspect_text` of A, then of B;
- compare: `mi.compare(a, b)` on those two views (alignment by edit distance, Jensen–Shannon
  of every layer, head and query row, the top heads, the prediction change).

Goal: the comparison costs at most the two runs plus 20 %, i.e. compare / two runs <= 0.2.
The candidates take turns in each round; the figure is the median of the rounds.
"""
from __future__ import annotations

import os
import statistics

import torch

import mminspect as mi

from .bench_glassbox import _interleaved
from .bench_text import text_with_n_tokens

GOAL = 0.2          # compare / (two runs)
SIZES = (32, 128, 256)


def run(repeats: int) -> dict:
    rounds = max(5, repeats)
    model = mi.load("minilm")
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    checks, figures = [], {}
    for n in SIZES:
        text_a = text_with_n_tokens(model.tokenizer, n)
        words = text_a.split()
        text_b = " ".join(words[:5] + ["not"] + words[5:])
        views = {}

        def runs():
            views["a"] = mi.inspect_text(model, text_a)
            views["b"] = mi.inspect_text(model, text_b)

        runs()                                                   # warm-up
        times = _interleaved({"runs": runs, "compare": lambda: mi.compare(views["a"], views["b"])},
                             rounds)
        med = {k: statistics.median(v) for k, v in times.items()}
        ratio = med["compare"] / med["runs"]
        figures[f"tokens_{n}"] = {"two_runs_ms": med["runs"] * 1000,
                                  "compare_ms": med["compare"] * 1000, "ratio": ratio}
        checks.append((f"mi.compare / two inspect_text, MiniLM {n} tokens", ratio, GOAL,
                       f"two runs {med['runs'] * 1000:.0f} ms, compare "
                       f"{med['compare'] * 1000:.1f} ms (median of {rounds}); "
                       f"{torch.get_num_threads()} threads; load average {load}"))
    return {"checks": checks, **figures}
