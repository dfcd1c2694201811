"""Integrated Gradients (Sundararajan et al. 2017) with as many steps as the completeness
tolerance needs, not a fixed 50.

IG's scores sum to f(input) - f(baseline) when the path integral is exact, so the gap
between the two (the completeness error) measures the integration error directly. We run
captum's Gauss-Legendre rule, check that gap, and grow the steps by 1.5x until it is within
`tolerance` of |f(input) - f(baseline)|.

Why start at 16 and grow by 1.5: Gauss-Legendre nodes are not nested, so a failed try is
wasted work. On MiniLM similarity targets (~30 tokens, three baselines) 16 steps met 1 % in
9 of 12 cases and 24 in all 12, while 8 steps met it in 1 of 12 and fewer steps can meet
it by lucky cancellation (4 steps: 0.1 %, 6 steps: 81 %) with a wrong map. Doubling from 8
would cost 24-56 evaluations where 16 -> 24 costs 16-40.
"""
from __future__ import annotations

from .base import GRAD_UNITS, Method, MethodOutput, Param, Problem, completeness, token_scores
from .paths import path_integral


GROWTH = 1.5


def integrated_gradients(problem: Problem, tolerance: float = 0.01, start_steps: int = 16,
                         max_steps: int = 256) -> MethodOutput:
    n, total, budget_stop = min(start_steps, max_steps), 0, False
    while True:
        attr = path_integral(problem.forward, problem.inputs, problem.baselines, n,
                             problem.batch_size)                       # [1, token, d_model]
        total += n
        scores = token_scores(attr)                                    # [token]
        _, rel = completeness(float(scores.sum()), problem)
        if rel <= tolerance or n >= max_steps:
            break
        following = min(int(round(n * GROWTH)), max_steps)
        # The next try only if it fits the time budget (its steps are not known up front).
        if problem.guard is not None and not problem.guard.fits(
                problem.seconds_for(following * GRAD_UNITS)):
            budget_stop = True
            break
        n = following
    return MethodOutput(scores=scores.detach(), n_steps=n,
                        notes=steps_notes(n, total, start_steps, rel, tolerance, max_steps,
                                          following if budget_stop else None))


def steps_notes(n: int, total: int, start_steps: int, rel: float, tolerance: float,
                max_steps: int, following: int | None = None) -> list[str]:
    """What happened, in words for people (the slider names of words.py, no internal
    names). following: the try the time budget did not allow. Shared with dataset mode,
    which runs the same steps for many texts at once (api/dataset_padded.py)."""
    notes = [f"Used {n} steps along the path from the baseline to your text ({total} gradients "
             f"in all: it starts with {start_steps} and adds steps until the scores add up "
             "within the accuracy goal)."]
    if following is not None:
        notes.append(f"Completeness error {rel:.1%} is above the {tolerance:.1%} tolerance: a "
                     f"try with {following} steps would not fit the time budget. Shorten the "
                     "text or read the map with care.")
    elif rel > tolerance:
        notes.append(f"Completeness error {rel:.1%} is above the {tolerance:.1%} tolerance at the "
                     f"{max_steps}-step limit: raise “Most steps allowed” or read the map with care.")
    return notes


def expected_cost(n_tokens: int, n_free: int, params: dict) -> float:
    """Two tries (16 then 24 steps by default): what most texts need (see above). More
    tries run only while the time budget has room for them (checked before each)."""
    first = min(params.get("start_steps", 16), params.get("max_steps", 256))
    second = min(int(round(first * GROWTH)), params.get("max_steps", 256))
    return GRAD_UNITS * (first + (second if second > first else 0))


def one_try(params: dict, factor: float, n_tokens: int, n_free: int) -> dict:
    """Under the time budget: the first try only (max_steps = start_steps). Not fewer steps:
    below ~16 the error can be small by cancellation while the map is wrong (see above), so
    the result keeps its honest completeness error, and a note if it misses the tolerance."""
    return {**params, "max_steps": min(params["max_steps"], params["start_steps"])}


METHOD = Method(
    name="integrated_gradients", label="Integrated Gradients", fn=integrated_gradients,
    complete=True, cost=expected_cost, shrink=one_try,
    params=(Param("tolerance", 0.01, 0.001, 0.2, 0.001,
                  "Relative completeness error to reach; smaller costs more steps."),
            Param("start_steps", 16, 2, 128, 1, "Gauss-Legendre steps of the first try."),
            Param("max_steps", 256, 8, 1024, 1,
                  "Stop growing the steps (x1.5 per try) here even if the tolerance is not met.")),
    description="Gradients averaged along the straight path from the baseline to the input, "
                "times (input - baseline), summed over the embedding. Scores add up to "
                "f(input) - f(baseline).")
