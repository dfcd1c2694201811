"""Benchmark section "dataset": mi.explain_dataset next to what a user would write without
it, measured in the same run on the same rows: the bundled text set ("pairs", 240
sentences; --repeats N takes N rows, the set repeated as often as needed).

- local vs a loop of the single-input API (per row: inspect_text for the prediction,
  compare_attributions with Integrated Gradients and head_importance): explain_dataset runs
  a batch's rows together in padded forwards (api/dataset_rows.py); the issue's goal is 2x.
  Both must give the same numbers up to float32 rounding (<= 1e-5 of each number's size).
- ray vs local on the same rows and batches (goal: within 1.3x, identical results), Ray's
  start-up reported apart.
The thread count is torch's (python -m mminspect.bench --threads N) and is printed with the
load average: on 2 shared cores both matter more than anything measured here.
"""
from __future__ import annotations

import math
import os
import time

import numpy as np
import torch

import mminspect as mi

METHODS = ["integrated_gradients"]
BATCH = 16


def rows(n: int) -> list[dict]:
    """n rows of the bundled text set, in order, repeated as needed."""
    pairs = mi.load_dataset_sample("pairs")
    base = [{"text": t, "label": lab} for t, lab in zip(pairs["text"], pairs["label"])]
    return [dict(base[i % len(base)]) for i in range(n)]


def labels_of(data: list[dict]) -> list[str]:
    return sorted({r["label"] for r in data})


def single_input_loop(model, data: list[dict], labels: list[str]) -> list[tuple]:
    """What one writes with the single-input API: per row, the zero-shot prediction, the
    attribution of the predicted label and the head scan."""
    out = []
    for r in data:
        view = mi.inspect_text(model, r["text"], labels=labels)
        label = labels[int(np.argmax(view.prediction.label_probs))]
        comp = mi.compare_attributions(model, r["text"], methods=METHODS, labels=labels,
                                       label=label, target="zero_shot", budget_s=math.inf)
        heads = mi.head_importance(model, r["text"], labels=labels, label=label,
                                   budget_s=math.inf)
        out.append((label, comp.results[0].word_scores, heads.delta))
    return out


def _max_diff(a, b) -> float:
    """Largest difference relative to the number's size (at least 1)."""
    return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))
                            / np.maximum(1, np.abs(np.asarray(y, np.float64)))))
               for x, y in zip(a, b))


def on_ray(model, data: list[dict], kw: dict):
    """(table, seconds, Ray's start-up seconds): explain_dataset on a Ray started here on
    loopback (2 CPUs, one actor), shut down after; the start-up is timed apart."""
    import ray
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False)
    try:
        start_s = time.perf_counter() - start
        start = time.perf_counter()
        remote = mi.explain_dataset(model, data, backend="ray", **kw)
        return remote, time.perf_counter() - start, start_s
    finally:
        ray.shutdown()


def run(repeats: int) -> dict:
    n = max(20, repeats)
    model = mi.load("minilm")
    data = rows(n)
    labels = labels_of(data)
    kw = {"methods": METHODS, "labels": labels, "budget_s": math.inf, "batch_size": BATCH}
    mi.explain_dataset(model, data[:BATCH], **kw)                            # warm-up
    single_input_loop(model, data[:2], labels)
    start = time.perf_counter()
    local = mi.explain_dataset(model, data, **kw)
    local_s = time.perf_counter() - start
    start = time.perf_counter()
    loop = single_input_loop(model, data, labels)
    loop_s = time.perf_counter() - start
    remote, ray_s, start_s = on_ray(model, data, kw)
    col = "integrated_gradients.scores"
    loop_diff = max(_max_diff(local[col], [x[1] for x in loop]),
                    _max_diff(local["head_importance"].map(np.stack), [x[2] for x in loop]))
    same_pred = list(local["prediction"]) == [x[0] for x in loop]
    ray_diff = max(_max_diff(local[col], remote[col]),
                   _max_diff(local["head_importance"].map(np.stack),
                             remote["head_importance"].map(np.stack)))
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    threads = torch.get_num_threads()
    f = {"rows": n, "batch_size": BATCH, "threads": threads, "load_average": load,
         "local_s": local_s, "loop_s": loop_s, "ray_start_s": start_s, "ray_s": ray_s,
         "local_rows_per_s": n / local_s, "loop_rows_per_s": n / loop_s,
         "ray_rows_per_s": n / ray_s, "max_rel_diff_loop": loop_diff,
         "same_predictions_loop": same_pred, "max_rel_diff_ray": ray_diff}
    f["checks"] = [
        (f"dataset local / single-input loop, {n} texts", local_s / loop_s, 0.5,
         f"explain_dataset (IG + head scan, zero-shot, batch_size {BATCH}, rows padded "
         f"together) {local_s:.1f} s vs inspect_text + compare_attributions + "
         f"head_importance per row {loop_s:.1f} s; same predictions: {same_pred}, scores "
         f"differ by {loop_diff:.1e} of their size; {threads} threads, load average {load}"),
        ("dataset local vs loop, max difference / size", loop_diff, 1e-5,
         "IG word scores and head importance, each difference over max(1, |value|): float32 "
         "rounding of padded batches (head importance subtracts two targets of size ~10)"),
        (f"dataset ray / local, {n} texts", ray_s / local_s, 1.3,
         f"ray {ray_s:.1f} s ({n / ray_s:.2f} rows/s) after {start_s:.1f} s of start-up "
         "(not counted), one actor"),
        ("dataset ray vs local, max difference / size", ray_diff, 1e-6,
         "same batches; IG word scores and head importance"),
    ]
    return f
