"""Text-attribution benchmark section (run by `python -m mminspect.bench`).

MiniLM, a 32-token input, the cosine-similarity target, [PAD] baseline:
- our IG (steps chosen to meet a 1 % relative completeness error) against captum's
  LayerIntegratedGradients on the word-embedding layer with its defaults (n_steps=50,
  Gauss-Legendre, all steps in one batch), same target, same run, p50 over repeats;
  goal: ours >= 2x faster (the two run alternately, so shared-CPU load hits both alike);
- the whole method comparison (every method + faithfulness curves); goal: <= 3 s p50.
"""
from __future__ import annotations

import statistics
import time

import torch
from captum.attr import LayerIntegratedGradients

from ..api.attribution import compare_attributions
from ..explain.attribution import METHODS, SimilarityTarget, build_problem
from ..models import load

TEXT = ("The old fisherman pulled his small wooden boat onto the sandy beach at dawn, "
        "tired but very happy with all of the silver fish he had caught overnight.")
COMPARE_TO = "A man returns from sea with his catch in the early morning."
N_TOKENS = 32
SPEEDUP_GOAL = 2.0
COMPARISON_GOAL_S = 3.0


def _p50(fn, repeats: int) -> tuple[float, object]:
    fn()                                             # warm-up: first calls allocate buffers
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _p50_pair(a, b, repeats: int) -> tuple[float, object, float, object]:
    """p50 of two functions run alternately (a, b, a, b...), so a CPU shared with other work
    slows both alike and the ratio stays meaningful."""
    a(), b()                                         # warm-up
    ta, tb, out_a, out_b = [], [], None, None
    for _ in range(repeats):
        start = time.perf_counter()
        out_a = a()
        ta.append(time.perf_counter() - start)
        start = time.perf_counter()
        out_b = b()
        tb.append(time.perf_counter() - start)
    return statistics.median(ta), out_a, statistics.median(tb), out_b


def _captum_default(adapter, enc, target):
    """captum's LayerIntegratedGradients on the word embeddings, all defaults, same target."""
    ids = enc.inputs["input_ids"]                                          # [1, token]
    mask = enc.inputs["attention_mask"]

    def forward(input_ids):                                                # [batch, token] -> [batch]
        b = input_ids.shape[0]
        kwargs = {k: v.expand(b, -1) for k, v in enc.inputs.items() if k != "input_ids"}
        out = adapter.model(input_ids=input_ids, **kwargs)
        return target.score(adapter, out, mask.expand(b, -1))

    special = torch.as_tensor(enc.special)
    base_ids = torch.where(special[None], ids, adapter.token_id("pad"))    # [1, token]
    lig = LayerIntegratedGradients(forward, adapter.input_embeddings())
    return lig.attribute(ids, baselines=base_ids)                          # [1, token, d_model]


def run(repeats: int = 5, comparison_repeats: int = 3, threads: int | None = None) -> dict:
    """Measure and return the figures (seconds, steps, errors, ratios, goals met) and the
    "value <= target" rows the runner prints (`checks`).

    threads: torch intra-op threads for the measurement (restored after). On a small machine
    whose cores are busy with other work, 2 threads can be 10-60x slower than 1 (the threads
    wait for each other at every op), so say which was used."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        figures = _measure(repeats, comparison_repeats)
    finally:
        torch.set_num_threads(before)
    return {"checks": checks(figures), **figures}


def checks(f: dict) -> list[tuple]:
    """The text-attribution targets as "value <= target" rows."""
    return [
        ("our IG time / captum LIG default (32 tokens)", 1 / f["speedup"], 1 / SPEEDUP_GOAL,
         f"{f['ours_ig_p50_s']:.3f} s ({f['ig_steps']} steps, {f['ig_completeness_relative']:.2%} "
         f"completeness) vs {f['captum_lig_default_p50_s']:.3f} s (50 steps) = {f['speedup']:.1f}x"),
        ("our IG relative completeness error", f["ig_completeness_relative"], 0.01,
         "the speed-up only counts at this accuracy"),
        ("method comparison, all methods (s, p50)", f["comparison_p50_s"], COMPARISON_GOAL_S,
         f"{len(f['comparison_methods'])} methods with faithfulness curves"),
    ]


def _measure(repeats: int, comparison_repeats: int) -> dict:
    adapter = load("minilm")
    enc = adapter.encode(TEXT)
    if len(enc.tokens) != N_TOKENS:
        raise RuntimeError(f"benchmark text has {len(enc.tokens)} tokens, expected {N_TOKENS}")
    target = SimilarityTarget(COMPARE_TO).prepare(adapter)
    ig = METHODS["integrated_gradients"]

    def ours():
        # Build the problem inside the timing: it includes the two forwards for f(x), f(b).
        problem = build_problem(adapter, enc, target, "pad")
        return problem, ig.fn(problem, **ig.resolve({}))

    ours_s, (problem, out), captum_s, attr = _p50_pair(
        ours, lambda: _captum_default(adapter, enc, target), repeats)
    gap = problem.f_input - problem.f_baseline
    ours_err = abs(float(out.scores.sum()) - gap) / abs(gap)
    captum_scores = attr[0].sum(-1).detach()                               # [token]
    captum_err = abs(float(captum_scores.sum()) - gap) / abs(gap)
    agreement = float(torch.nn.functional.cosine_similarity(captum_scores, out.scores, dim=0))

    compare_s, comparison = _p50(lambda: compare_attributions(
        adapter, TEXT, compare_to=COMPARE_TO), comparison_repeats)
    return {
        "n_tokens": N_TOKENS,
        "torch_threads": torch.get_num_threads(),
        "ig_steps": out.n_steps,
        "ig_completeness_relative": ours_err,
        "captum_default_completeness_relative": captum_err,
        "ig_vs_captum_cosine": agreement,
        "ours_ig_p50_s": ours_s,
        "captum_lig_default_p50_s": captum_s,
        "speedup": captum_s / ours_s,
        "speedup_goal_met": captum_s / ours_s >= SPEEDUP_GOAL and ours_err <= 0.01,
        "comparison_p50_s": compare_s,
        "comparison_methods": comparison.methods,
        "comparison_seconds_by_method": {r.method: r.seconds for r in comparison.results},
        "comparison_goal_met": compare_s <= COMPARISON_GOAL_S,
    }


def report(figures: dict) -> str:
    """The figures as Markdown lines for the README."""
    f = figures
    return "\n".join([
        f"- IG on MiniLM, {f['n_tokens']} tokens, similarity target: {f['ig_steps']} steps, "
        f"completeness error {f['ig_completeness_relative']:.2%} "
        f"(captum default 50 steps: {f['captum_default_completeness_relative']:.2%}); "
        f"{f['ours_ig_p50_s']:.3f} s vs {f['captum_lig_default_p50_s']:.3f} s p50 "
        f"= {f['speedup']:.1f}x faster (goal >= {SPEEDUP_GOAL:g}x).",
        f"- Method comparison ({len(f['comparison_methods'])} methods with faithfulness curves): "
        f"{f['comparison_p50_s']:.2f} s p50 (goal <= {COMPARISON_GOAL_S:g} s).",
    ])

