"""Cost benchmark section (`python -m mminspect.bench --only cost`): what the expensive
attribution methods cost as a text grows, and what the time budget does about it.

MiniLM (bundled), cosine-similarity target, [PAD] baseline, texts of exactly 64 / 128 / 256
tokens ([CLS] and [SEP] included; 512 for the default-budget row). Every row times ONE call,
after a warm-up comparison at 16 tokens:
- "<method> alone, one item per forward": the method's own call (no faithfulness curves, the
  problem built before the clock starts) with batch_size=1, one forward per perturbed input;
- "<method> alone, batched": the same call with the memory-budget batch (captum's
  perturbations_per_eval); its map equals the one above to 1e-5
  (tests/test_attribution_batching.py); float32;
- "<method> alone, batched, <dtype>": the same with the precision "auto" picks here
  (bfloat16 autocast where the CPU multiplies it natively: explain/attribution/precision.py;
  its maps agree with float32 to Spearman >= 0.99, tests/test_attribution_precision.py);
- "compare-all, no budget, <precision>": `compare_attributions`, every method with its
  faithfulness curves, encoding and target included, budget_s=inf (the full work), in float32
  and with precision "auto" (the default), next to the budget's up-front estimate of it;
- "<method>, attribute_text, budget 3 s" / "compare-all, budget 10 s": the same requests
  with the time goals given as the budget (reduce mode), and what the budget changed;
- a stop asked 2 s into compare-all (from another thread, as the app does when a client
  leaves): seconds until the call ended;
- GradientSHAP at 512 tokens, ours (samples in memory-budget batches) next to captum's
  GradientShap (all samples in one batch, what ran before): the memory a request can take;
- "compare-all, default budget": 512 tokens, the default 60 s budget.
Memory: the process's resident set (RSS), sampled every 5 ms during the call: its peak, and
its rise over the RSS just before the call (freed memory is reused, so the rise is a lower
bound of what the call allocated). CPU s: the process's CPU time, less sensitive than wall
time to other work on a shared machine.
"""
from __future__ import annotations

import math
import os
import sys
import threading
import time
from dataclasses import replace

import numpy as np
import torch
from captum.attr import GradientShap

from ..api.attribution import attribute_text, compare_attributions
from ..explain.attribution import (METHODS, N_RANDOM, Job, SimilarityTarget, build_problem,
                                   plan_budget)
from ..explain.attribution.budget import GRACE_S
from ..explain.attribution.precision import in_precision, resolve_precision
from ..explain.attribution.problem import calibrated
from ..models import load
from ..types import Cancelled, OverBudget

PARAGRAPH = ("The old fisherman pulled his small wooden boat onto the sandy beach at dawn, tired "
             "but very happy with all of the silver fish he had caught overnight. Gulls circled "
             "above the harbour while the village slowly woke, shutters opening one by one. ")
COMPARE_TO = "A man returns from sea with his catch in the early morning."
LENGTHS = (64, 128, 256)
BUDGET_LENGTH = 512
PERTURBATION = ("feature_ablation", "occlusion", "lime", "kernel_shap")
# The goals (idle CI machine, 2 CPU cores): per method at 256 tokens, and all.
METHOD_GOAL_S, COMPARE_GOAL_S, RSS_GOAL_MB = 3.0, 10.0, 4000.0


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2 ** 20


def measured(fn) -> dict:
    """One call: wall seconds, CPU seconds of the process (less sensitive to other load on a
    shared machine), peak RSS MB, its rise over the RSS before; and the call's result."""
    before, peak, stop = rss_mb(), [rss_mb()], threading.Event()

    def sample():
        while not stop.wait(0.005):
            peak[0] = max(peak[0], rss_mb())

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    start, cpu = time.perf_counter(), time.process_time()
    try:
        out = fn()
    finally:
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        stop.set()
        t.join()
    peak[0] = max(peak[0], rss_mb())
    return {"seconds": seconds, "cpu_s": cpu, "peak_rss_mb": peak[0],
            "rss_rise_mb": peak[0] - before, "result": out}


def text_of(adapter, n_tokens: int) -> str:
    """A text that MiniLM reads as exactly `n_tokens` tokens ([CLS] and [SEP] included)."""
    ids = adapter.tokenizer(PARAGRAPH * 40, add_special_tokens=False,
                            verbose=False)["input_ids"][: n_tokens - 2]
    text = adapter.tokenizer.decode(ids)
    assert len(adapter.encode(text).tokens) == n_tokens, "the text must have the asked length"
    return text


def compare_estimate(adapter, text: str, target, dtype=None) -> float:
    """The budget's up-front estimate of compare-all on `text`, as compare_attributions plans
    it when the estimate matters (calibrated: per-call overhead apart from per-item cost);
    dtype: the forward-only work's precision (None = float32)."""
    problem = build_problem(adapter, adapter.encode(text), target, "pad")
    exact, fast = calibrated(problem), calibrated(in_precision(problem, dtype))
    jobs = [Job(m, m.resolve({}), exact if m.needs_grad else fast, curve_orders=1,
                curve_problem=fast) for m in METHODS.values()]
    return plan_budget(jobs, budget_s=math.inf, shared_orders=N_RANDOM).estimate_s


def dtype_name(dtype) -> str:
    return "float32" if dtype is None else str(dtype).removeprefix("torch.")


def captum_gradient_shap(problem, n_samples: int = 16):
    """What GradientSHAP was before: captum's, every sample in one forward+backward batch."""
    torch.manual_seed(0)
    np.random.seed(0)
    return GradientShap(problem.forward).attribute(problem.inputs, baselines=problem.baselines,
                                                   n_samples=n_samples, stdevs=0.0)


def stop_latency(adapter, text: str, after_s: float) -> float:
    """Seconds from a stop asked (from another thread, as the app does when a client leaves)
    `after_s` into a compare-all to the moment the call has ended."""
    flag, asked = threading.Event(), []

    def ask():
        asked.append(time.perf_counter())
        flag.set()

    timer = threading.Timer(after_s, ask)
    timer.start()
    try:
        compare_attributions(adapter, text, compare_to=COMPARE_TO, budget_s=math.inf,
                             should_stop=flag.is_set)
    except Cancelled:
        pass
    finally:
        timer.cancel()
    return time.perf_counter() - asked[0] if asked else math.nan


def _budgeted(fn):
    try:
        return fn()
    except OverBudget as e:                     # refused up front: that is the budget's answer
        return e


def _reductions(out) -> dict | str:
    """What the budget changed: {method: {param: value}}, or the refusal."""
    if isinstance(out, OverBudget):
        return f"refused: {out}"
    results = out.results if hasattr(out, "results") else [out]
    return {r.method: {k: v for k, v in r.params.items()
                       if v != METHODS[r.method].resolve({}).get(k)}
            for r in results if any("time budget" in x for x in r.notes)}


def run(repeats: int = 1, lengths=LENGTHS) -> dict:
    """One timed call per row (the rows take seconds to minutes; `repeats` is not used)."""
    adapter = load("minilm")
    target = SimilarityTarget(COMPARE_TO).prepare(adapter)
    compare_attributions(adapter, text_of(adapter, 16), compare_to=COMPARE_TO)   # warm-up
    rows, load_before = [], os.getloadavg()

    def add(n, what, fn, **extra):
        m = measured(fn)
        rows.append({"tokens": n, "what": what, **extra,
                     **{k: v for k, v in m.items() if k != "result"}})
        print(f"  cost: {n} tokens, {what}: {m['seconds']:.2f} s, CPU {m['cpu_s']:.1f} s, "
              f"peak RSS {m['peak_rss_mb']:.0f} MB", file=sys.stderr, flush=True)   # a long run
        return m["result"]

    dtype = resolve_precision("auto", torch.device("cpu"))      # what the default runs here
    auto = f"auto = {dtype_name(dtype)}"
    for n in lengths:
        text = text_of(adapter, n)
        problem = build_problem(adapter, adapter.encode(text), target, "pad")
        fast = in_precision(problem, dtype)
        for name in PERTURBATION:
            m = METHODS[name]
            if name in ("feature_ablation", "occlusion"):
                one = replace(problem, batch_size=1)
                add(n, f"{m.label} alone, one item per forward, float32",
                    lambda: m.fn(one, **m.resolve({})))
            add(n, f"{m.label} alone, batched ({problem.batch_size} per forward), float32",
                lambda: m.fn(problem, **m.resolve({})))
            if dtype is not None:
                add(n, f"{m.label} alone, batched ({problem.batch_size} per forward), {auto}",
                    lambda: m.fn(fast, **m.resolve({})))
        for precision, d in (("float32", None), ("auto", dtype)):
            if precision == "auto" and dtype is None:
                break                                   # the same run as float32's
            estimate = compare_estimate(adapter, text, target, d)
            label = "float32" if d is None else auto
            comp = add(n, f"compare-all (8 methods + curves), no budget, {label}",
                       lambda: compare_attributions(adapter, text, compare_to=COMPARE_TO,
                                                    budget_s=math.inf, precision=precision),
                       estimate_s=estimate)
            rows[-1]["by_method_s"] = {r.method: round(r.seconds, 3) for r in comp.results}
    n, text = max(lengths), text_of(adapter, max(lengths))
    for name in ("feature_ablation", "occlusion"):
        out = add(n, f"{METHODS[name].label}, attribute_text, budget {METHOD_GOAL_S:g} s, {auto}",
                  lambda: _budgeted(lambda: attribute_text(
                      adapter, text, name, compare_to=COMPARE_TO, faithfulness=False,
                      both_sides=False, budget_s=METHOD_GOAL_S, precision="auto")))
        rows[-1]["reduced"] = _reductions(out)
    out = add(n, f"compare-all, budget {COMPARE_GOAL_S:g} s, {auto}",
              lambda: _budgeted(lambda: compare_attributions(
                  adapter, text, compare_to=COMPARE_TO, budget_s=COMPARE_GOAL_S,
                  precision="auto")))
    rows[-1]["reduced"] = _reductions(out)
    rows.append({"tokens": n, "what": "compare-all stopped 2 s in: seconds from the ask to "
                 "the end", "seconds": stop_latency(adapter, text, 2.0), "cpu_s": 0.0,
                 "peak_rss_mb": rss_mb(), "rss_rise_mb": 0.0})
    text = text_of(adapter, BUDGET_LENGTH)
    problem = build_problem(adapter, adapter.encode(text), target, "pad")
    gs = METHODS["gradient_shap"]
    add(BUDGET_LENGTH, f"GradientSHAP alone, 16 samples in batches of {problem.batch_size}",
        lambda: gs.fn(problem, **gs.resolve({})))
    add(BUDGET_LENGTH, "captum GradientShap, 16 samples in one batch (the code before)",
        lambda: captum_gradient_shap(problem))
    out = add(BUDGET_LENGTH, f"compare-all, default budget (60 s, reduce), {auto}",
              lambda: _budgeted(lambda: compare_attributions(adapter, text,
                                                             compare_to=COMPARE_TO,
                                                             precision="auto")))
    rows[-1]["reduced"] = _reductions(out)
    # the machine's load average (1, 5, 15 min) before and after: these figures are only
    # comparable between runs on a machine equally idle
    return {"checks": checks(rows), "rows": rows, "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "load_avg": [load_before, os.getloadavg()]}


def _row(rows, tokens, prefix):
    return next(r for r in rows if r["tokens"] == tokens and r["what"].startswith(prefix))


def _last(rows, tokens, prefix):
    return [r for r in rows if r["tokens"] == tokens and r["what"].startswith(prefix)][-1]


def checks(rows: list[dict]) -> list[tuple]:
    n = max(r["tokens"] for r in rows if r["tokens"] != BUDGET_LENGTH)
    out = []
    for label in ("Feature Ablation", "Occlusion"):
        one = _row(rows, n, f"{label} alone, one")
        exact = _row(rows, n, f"{label} alone, batched")
        r = _last(rows, n, f"{label} alone, batched")         # auto's row where it differs
        out.append((f"{label}, {n} tokens, per token, batched, default precision (s)",
                    r["seconds"], METHOD_GOAL_S,
                    f"{r['what']}; float32 batched {exact['seconds']:.1f} s "
                    f"({exact['seconds'] / r['seconds']:.1f}x), one item per forward "
                    f"{one['seconds']:.1f} s; CPU {r['cpu_s']:.1f} s"))
    exact, r = _row(rows, n, "compare-all (8"), _last(rows, n, "compare-all (8")
    out.append((f"compare-all, {n} tokens, no budget, default precision (s)", r["seconds"],
                COMPARE_GOAL_S,
                f"{r['what']}; float32 {exact['seconds']:.1f} s "
                f"({exact['seconds'] / r['seconds']:.1f}x); CPU {r['cpu_s']:.1f} s; " + ", ".join(
                    f"{k} {v:.1f}" for k, v in r["by_method_s"].items())))
    out.append((f"|log2(estimate / measured)|, compare-all {n} tokens",
                abs(math.log2(r["estimate_s"] / r["seconds"])), 1.0,
                f"{r['estimate_s']:.1f} s estimated, {r['seconds']:.1f} s measured"))
    for label, goal in (("Feature Ablation, attribute_text", METHOD_GOAL_S),
                        ("Occlusion, attribute_text", METHOD_GOAL_S),
                        ("compare-all, budget", COMPARE_GOAL_S)):
        r = _row(rows, n, label)
        # the budget covers the whole request and stops it within one second past it
        out.append((f"{label}, {n} tokens, budget {goal:g} s (s)", r["seconds"], goal + GRACE_S,
                    f"reduced: {r['reduced']}"))
    r = _row(rows, BUDGET_LENGTH, "compare-all, default")
    out.append((f"compare-all, {BUDGET_LENGTH} tokens, default budget (s)", r["seconds"],
                60.0 + GRACE_S, f"reduced: {r['reduced']}"))
    r = _row(rows, n, "compare-all stopped")
    out.append((f"compare-all, {n} tokens, stop asked 2 s in: until it ended (s)", r["seconds"],
                1.0, "should_stop() checked before every forward batch"))
    ours = [x for x in rows if not x["what"].startswith("captum")]
    before = _row(rows, BUDGET_LENGTH, "captum GradientShap")
    gs = _row(rows, BUDGET_LENGTH, "GradientSHAP alone")
    out.append(("peak RSS of any of our calls above (MB)", max(x["peak_rss_mb"] for x in ours),
                RSS_GOAL_MB, f"GradientSHAP at {BUDGET_LENGTH} tokens: ours rises "
                f"{gs['rss_rise_mb']:.0f} MB, captum's one batch {before['rss_rise_mb']:.0f} MB"))
    return out


def report(figures: dict) -> str:
    """The curve as a Markdown table for the README."""
    lines = ["| tokens | what is timed (one call) | wall s | CPU s | peak RSS MB | RSS rise MB |",
             "|---:|---|---:|---:|---:|---:|"]
    for r in figures["rows"]:
        extra = (f" (estimate {r['estimate_s']:.1f} s)" if "estimate_s" in r else "")
        if r.get("reduced"):
            extra += f" — {r['reduced']}"
        lines.append(f"| {r['tokens']} | {r['what']}{extra} | {r['seconds']:.2f} | "
                     f"{r['cpu_s']:.1f} | {r['peak_rss_mb']:.0f} | {r['rss_rise_mb']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import json
    lengths = tuple(int(x) for x in sys.argv[1].split(",")) if len(sys.argv) > 1 else LENGTHS
    figures = run(lengths=lengths)
    print(report(figures))
    print("threads", figures["torch_threads"], "cores", figures["cpu_count"],
          "load average before / after", figures["load_avg"])
    for c in figures["checks"]:
        print(c)
    print(json.dumps(figures["rows"], indent=1, default=float))
