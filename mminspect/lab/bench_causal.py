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
  The check is against (a), what "72 separate ablations" costs through the API (the
  goal); (b) is printed in its detail: batching alone, without any per-call set-up,
  measured 4.0x here (compute: 267 item-layers against 432, plus batching's efficiency).
- patching sweeps: `mi.patch_activations` over every head ([layer, head], 72 items) and over
  every (layer, position) of the residual stream ([layer, position], 6 x 32 = 192 items),
  clean vs the same text with one word changed.
- mini-CLIP's text tower (its MiniLM, 72 heads), 4 prompts and one image: the scan
  `mi.head_importance(..., tower="text")` against 72 `mi.ablate_heads(..., tower="text")`
  calls (12 timed x 6), the same >= 5x goal.

Goals: scan <= 1 s on the CI machine and >= 5x faster than 72 separate ablations;
ours: the heads patching sweep (the same 72 items) within 2x the scan.
"""
from __future__ import annotations

import os
import time

import torch

import mminspect as mi
from mminspect.api import causal

from .bench_text import text_with_n_tokens

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


def _interleaved_min(fns: dict, rounds: int) -> tuple[dict, dict]:
    """({name: min wall s}, {name: min CPU s}) over `rounds`, the candidates taking turns in
    each round: on a shared, busy machine a load spike then hits one round of every
    candidate rather than all rounds of one, and the minimum is the least disturbed run."""
    wall = {k: float("inf") for k in fns}
    cpu = dict(wall)
    for _ in range(rounds):
        for name, fn in fns.items():
            w, c = time.perf_counter(), time.process_time()
            fn()
            wall[name] = min(wall[name], time.perf_counter() - w)
            cpu[name] = min(cpu[name], time.process_time() - c)
    return wall, cpu


CLIP_PROMPTS = ["a red circle", "a blue square", "a green triangle", "a yellow star"]


def _clip_text_tower(rounds: int) -> tuple[dict, tuple]:
    """({figures}, check row): mini-CLIP's text-tower scan vs 72 separate ablations."""
    import numpy as np
    from PIL import Image

    clip = mi.load("miniclip")
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8))
    kw = dict(image=image, prompts=CLIP_PROMPTS, tower="text")
    imp = mi.head_importance(clip, **kw)                                  # warm-up
    wall, _ = _interleaved_min({
        "scan": lambda: mi.head_importance(clip, **kw),
        "calls12": lambda: [mi.ablate_heads(clip, heads=[(2, h)], **kw) for h in range(12)],
    }, rounds)
    scan_s, calls_s = wall["scan"], 6 * wall["calls12"]
    f = {"miniclip_text_scan_s": scan_s, "miniclip_text_72_calls_s": calls_s,
         "miniclip_text_speedup_vs_calls": calls_s / scan_s}
    row = ("mini-CLIP text-tower scan / 72 ablate_heads calls", scan_s / calls_s,
           1 / SPEEDUP_GOAL,
           f"{imp.delta.size} heads, {len(CLIP_PROMPTS)} prompts: scan {scan_s:.2f} s (1 clean "
           f"forward + 6 of {imp.batch_size} heads x {len(CLIP_PROMPTS)} prompts), 72 calls "
           f"{calls_s:.2f} s (12 timed x 6): {calls_s / scan_s:.1f}x")
    return f, row


def run(repeats: int) -> dict:
    rounds = max(3, repeats // 10)
    model = mi.load("minilm")
    text = text_with_n_tokens(model.tokenizer, 32)
    corrupted = text.replace("fox", "dog", 1)
    n_tokens = len(model.encode(text).tokens)
    assert len(model.encode(corrupted).tokens) == n_tokens
    imp = mi.head_importance(model, text, compare_to=COMPARE_TO)          # warm-up
    fns = {
        "scan": lambda: mi.head_importance(model, text, compare_to=COMPARE_TO),
        "loop": lambda: _loop_of_single_ablations(model, text),
        # 12 calls (layer 2's heads), x 6 below: a call's cost does not depend on the layer
        "calls12": lambda: [mi.ablate_heads(model, text, heads=[(2, h)], compare_to=COMPARE_TO)
                            for h in range(12)],
        "heads": lambda: mi.patch_activations(model, text, corrupted, site="heads",
                                              compare_to=COMPARE_TO),
        "residual": lambda: mi.patch_activations(model, text, corrupted, site="residual",
                                                 compare_to=COMPARE_TO),
    }
    wall, cpu = _interleaved_min(fns, rounds)
    scan_s, loop_s, calls_s = wall["scan"], wall["loop"], 6 * wall["calls12"]
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    f = {"tokens": n_tokens, "heads": int(imp.delta.size), "batch_size": imp.batch_size,
         "threads": torch.get_num_threads(), "load_average": load, "rounds": rounds,
         "scan_s": scan_s, "scan_cpu_s": cpu["scan"], "loop_of_72_forwards_s": loop_s,
         "loop_cpu_s": cpu["loop"], "72_ablate_heads_calls_s": calls_s,
         "speedup_vs_loop": loop_s / scan_s, "speedup_vs_loop_cpu": cpu["loop"] / cpu["scan"],
         "speedup_vs_calls": calls_s / scan_s,
         "patch_heads_sweep_s": wall["heads"], "patch_residual_sweep_s": wall["residual"]}
    checks = [
        (f"head_importance, all {f['heads']} heads of MiniLM, {n_tokens} tokens (s)", scan_s,
         SCAN_GOAL_S, f"whole call, min wall of {rounds} interleaved rounds ({cpu['scan']:.2f} "
                      f"CPU s); 1 clean forward + 6 of {imp.batch_size} items; {f['threads']} "
                      f"threads; load average {load} (a busy machine inflates seconds; the "
                      "ratio below is measured in the same rounds)"),
        ("head_importance / 72 mi.ablate_heads calls", 1 / f["speedup_vs_calls"], 1 / SPEEDUP_GOAL,
         f"72 calls, one head each ({calls_s:.2f} s, 12 timed x 6): {f['speedup_vs_calls']:.1f}x "
         f"(goal >= {SPEEDUP_GOAL:g}x). Stricter, no target: vs a bare loop of 72 one-item "
         f"ablated forwards after one clean run ({loop_s:.2f} s): {f['speedup_vs_loop']:.1f}x "
         f"(CPU seconds {f['speedup_vs_loop_cpu']:.1f}x)"),
        ("patch_activations heads sweep / head_importance scan", wall["heads"] / scan_s, 2.0,
         f"heads sweep (72 items + a corrupted run, whole call): {wall['heads']:.2f} s; residual "
         f"sweep ({6 * n_tokens} layer x position cells): {wall['residual']:.2f} s; the same 72 "
         "items as the scan, so it should cost about one scan"),
    ]
    clip_f, clip_row = _clip_text_tower(rounds)
    return {"checks": checks + [clip_row], **f, **clip_f}
