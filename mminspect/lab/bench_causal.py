"""Causal-lab benchmark section (run by `python -m mminspect.bench --only causal`).

What is timed, on the bundled MiniLM (6 layers x 12 heads = 72 heads), a text of 32 tokens,
target = cosine similarity to a second sentence:

- scan: one `mi.head_importance` call, whole (target prepared, text encoded, one clean
  forward, then every head ablated alone in batched forwards: one head per batch item).
- 72 separate ablations, two baselines measured in the same run:
  (a) 72 calls of `mi.ablate_heads`, one head each (what a user's loop costs: each call
      prepares the target and runs its own clean forward), timed on 12 calls x 6;
  (b) the bare minimum of a loop: the target prepared once, one clean forward, then 72
      forwards of one item each with one head ablated (no per-call set-up at all).
  The check is against (b), the stricter one; (a) is in the detail.
- patching sweeps: `mi.patch_activations` over every head ([layer, head], 72 items) and over
  every (layer, position) of the residual stream ([layer, position], 6 x 32 = 192 items),
  clean vs the same text with one word changed.

Goals (issue 12): scan <= 1 s on the CI machine and >= 5x faster than 72 separate ablations;
ours: the heads patching sweep (the same 72 items) within 2x the scan.
"""
from __future__ import annotations

import time

import torch

import mminspect as mi
from mminspect.api import causal

from .bench_text import p50, text_with_n_tokens

SCAN_GOAL_S = 1.0
SPEEDUP_GOAL = 5.0
COMPARE_TO = "A small animal rests by the window."


def _loop_of_single_ablations(model, text: str) -> None:
    """Baseline (b): the target prepared once, then one forward per head."""
    sites = causal.head_sites(model)
    enc, bound = causal._bound_target(model, text, None, COMPARE_TO, None, None, 0.05, None, 0, None)
    _, contexts, _ = causal._clean_run(model, sites, enc, bound)
    for layer in range(sites.n_layers):
        for head in range(sites.n_heads):
            select, values = causal._ablation_edits([[(layer, head)]], sites, "zero", contexts)
            with causal.edit_heads(sites.attention_out, sites.n_heads, select, values):
                causal._scores(model, enc, bound, 1)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(repeats: int) -> dict:
    repeats = max(3, repeats // 10)
    model = mi.load("minilm")
    text = text_with_n_tokens(model.tokenizer, 32)
    corrupted = text.replace("fox", "dog", 1)
    n_tokens = len(model.encode(text).tokens)
    assert len(model.encode(corrupted).tokens) == n_tokens
    scan_s = p50(lambda: mi.head_importance(model, text, compare_to=COMPARE_TO), repeats, warmup=1)
    cpu = time.process_time()
    imp = mi.head_importance(model, text, compare_to=COMPARE_TO)
    scan_cpu_s = time.process_time() - cpu        # CPU seconds: less inflated by other load
    loop_s = min(_timed(lambda: _loop_of_single_ablations(model, text)) for _ in range(2))
    # 12 calls (layer 2's heads) timed, x 6: a call's cost does not depend on the layer
    calls_s = 6 * _timed(lambda: [mi.ablate_heads(model, text, heads=[(2, head)], compare_to=COMPARE_TO)
                                  for head in range(12)])
    heads_s = p50(lambda: mi.patch_activations(model, text, corrupted, site="heads",
                                               compare_to=COMPARE_TO), repeats, warmup=1)
    resid_s = p50(lambda: mi.patch_activations(model, text, corrupted, site="residual",
                                               compare_to=COMPARE_TO), max(1, repeats // 2), warmup=1)
    load = " ".join(f"{x:.1f}" for x in __import__("os").getloadavg())
    f = {"tokens": n_tokens, "heads": int(imp.delta.size), "batch_size": imp.batch_size,
         "threads": torch.get_num_threads(), "load_average": load,
         "scan_p50_s": scan_s, "scan_cpu_s": scan_cpu_s, "loop_of_72_forwards_s": loop_s, "72_ablate_heads_calls_s": calls_s,
         "speedup_vs_loop": loop_s / scan_s, "speedup_vs_calls": calls_s / scan_s,
         "patch_heads_sweep_p50_s": heads_s, "patch_residual_sweep_p50_s": resid_s}
    checks = [
        (f"head_importance, all {f['heads']} heads of MiniLM, {n_tokens} tokens (s)", scan_s,
         SCAN_GOAL_S, f"whole call, wall p50 of {repeats} ({scan_cpu_s:.2f} CPU s for one); "
                      f"6 forwards of {imp.batch_size} items + 1 clean; {f['threads']} "
                      f"threads; load average {load} (a busy machine inflates seconds; the "
                      "ratio below is measured in the same run)"),
        ("head_importance / 72 single-head ablations", 1 / f["speedup_vs_loop"], 1 / SPEEDUP_GOAL,
         f"vs a loop of 72 one-item ablated forwards after one clean run ({loop_s:.2f} s): "
         f"{f['speedup_vs_loop']:.1f}x faster; vs 72 mi.ablate_heads calls ({calls_s:.2f} s, 12 timed x 6): "
         f"{f['speedup_vs_calls']:.1f}x (goal >= {SPEEDUP_GOAL:g}x)"),
        ("patch_activations heads sweep / head_importance scan", heads_s / scan_s, 2.0,
         f"heads sweep (72 items + a corrupted run, whole call, p50): {heads_s:.2f} s; residual "
         f"sweep ({6 * n_tokens} layer x position cells): {resid_s:.2f} s; the same 72 items as "
         "the scan, so it should cost about one scan"),
    ]
    return {"checks": checks, **f}
