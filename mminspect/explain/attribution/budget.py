"""The time budget: what an attribution request will cost, estimated before it runs, and
what happens above the budget.

estimate = sum over jobs of (forward units x seconds per unit), where a method declares its
units (`Method.cost`: one per perturbed input, GRAD_UNITS per gradient step) and the seconds
per unit are measured on this input, on this machine, now (`Problem.unit_s`). Above the
budget a request is either refused with the estimate and what to change, or reduced: the
methods that can (`Method.shrink`) run fewer samples or coarser perturbations, scaled
together so the whole fits, and each says so in its notes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...types import OverBudget
from .base import Method, Problem
from .problem import calibrated

FAST = "Saliency, Input × Gradient or Integrated Gradients"
MODES = ("reduce", "refuse")


@dataclass
class Job:
    """One method on one problem, with the forwards that run along with it (faithfulness)."""

    method: Method
    params: dict
    problem: Problem
    extra_units: float = 0.0

    def units(self, params: dict | None = None) -> float:
        p = self.problem
        return self.method.cost(p.n_tokens, p.n_free, self.params if params is None else params)

    def seconds(self, params: dict | None = None) -> float:
        return self.problem.seconds_for(self.units(params) + self.extra_units)


@dataclass(frozen=True)
class Plan:
    """What will run: each job's parameters and notes, and the estimate in seconds."""

    params: list[dict]
    notes: list[list[str]]
    seconds: list[float]            # per job
    estimate_s: float               # all jobs plus the fixed part
    full_estimate_s: float          # before any reduction
    reduced: bool = False
    detail: dict = field(default_factory=dict)

    def after(self, i: int) -> float:
        """Seconds planned for the jobs after job i."""
        return sum(self.seconds[i + 1:])


def _describe(jobs: list[Job], estimate_s: float, budget_s: float, total_s: float) -> str:
    p = max((j.problem for j in jobs), key=lambda q: q.n_tokens)
    units = sum(j.units() + j.extra_units for j in jobs)
    # cost grows ~ tokens^2 for perturbation methods (n forwards of n tokens), so a text
    # shorter by sqrt(budget / estimate) fits
    fits = int(p.n_tokens * math.sqrt(max(budget_s, 0.0) / estimate_s))
    return (f"this request would take about {estimate_s:.0f} s ({units:,.0f} forward passes of "
            f"{p.n_tokens} tokens, ~{p.unit_s * 1e3:.0f} ms each here, now), and the time budget "
            f"is {total_s:g} s. Shorten the text (about {fits} tokens would fit), choose a "
            f"faster method ({FAST}), or use fewer samples")


def _calibrate(jobs: list[Job]) -> float:
    """Re-time each distinct problem (see `calibrated`) in place; returns the ratio of the
    new to the old cost of one item of the first problem (to rescale fixed work)."""
    done: dict[int, Problem] = {}
    ratio = None
    for j in jobs:
        key = id(j.problem)
        if key not in done:
            done[key] = calibrated(j.problem)
        old, j.problem = j.problem, done[key]
        if ratio is None:
            ratio = (j.problem.unit_s + j.problem.call_s / j.problem.batch_size) / max(old.unit_s, 1e-12)
    return ratio or 1.0


def plan_budget(jobs: list[Job], budget_s: float, mode: str = "reduce",
                fixed_s: float = 0.0, total_s: float | None = None) -> Plan:
    """The plan for `jobs` within `budget_s` seconds (fixed_s: work that runs regardless,
    e.g. the shared random-order curves; total_s: the request's whole budget, for messages,
    when part of it is already spent). Raises OverBudget when it cannot fit."""
    total_s = budget_s if total_s is None else total_s
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    params = [dict(j.params) for j in jobs]
    full = fixed_s + sum(j.seconds() for j in jobs)
    if full > budget_s:                    # the first estimate errs high: measure better
        fixed_s *= _calibrate(jobs)
        full = fixed_s + sum(j.seconds() for j in jobs)
    seconds = [j.seconds() for j in jobs]
    notes: list[list[str]] = [[] for _ in jobs]
    if full <= budget_s:
        return Plan(params, notes, seconds, full, full)
    if mode == "refuse":
        raise OverBudget(f"Not run: {_describe(jobs, full, budget_s, total_s)}.")
    flexible = [i for i, j in enumerate(jobs) if j.method.shrink is not None]
    factor, estimate = 1.0, full
    for _ in range(8):     # shrink() rounds and has floors: converge in a few passes
        flex_s = sum(jobs[i].problem.seconds_for(jobs[i].units(params[i])) for i in flexible)
        over = estimate - budget_s
        if over <= 0 or flex_s <= 0:
            break
        # scale the flexible methods (together, from their asked-for parameters) so the
        # excess goes; 2 % under, as shrink() rounds
        factor *= max(1 - over / flex_s, 0.01) * 0.98
        for i in flexible:
            p = jobs[i].problem
            params[i] = jobs[i].method.shrink(jobs[i].params, factor, p.n_tokens, p.n_free)
        previous, seconds = estimate, [j.seconds(q) for j, q in zip(jobs, params)]
        estimate = fixed_s + sum(seconds)
        if estimate >= previous:           # every flexible method is at its floor
            break
    if estimate > budget_s:
        raise OverBudget("Not run, even with fewer samples: "
                         f"{_describe(jobs, full, budget_s, total_s)}.")
    for i in flexible:
        changed = {k: v for k, v in params[i].items() if v != jobs[i].params.get(k)}
        if changed:
            was = ", ".join(f"{k}={jobs[i].params[k]}" for k in changed)
            now = ", ".join(f"{k}={v}" for k, v in changed.items())
            notes[i].append(f"Ran with {now} (instead of {was}) to stay within the time budget "
                            f"of {total_s:g} s: the full request was estimated at {full:.0f} s "
                            f"at {jobs[i].problem.n_tokens} tokens. For the full run, shorten "
                            "the text or raise the budget (MMINSPECT_BUDGET_S).")
    return Plan(params, notes, seconds, estimate, full, reduced=True)
