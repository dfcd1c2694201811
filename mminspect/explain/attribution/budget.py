"""The time budget: what an attribution request will cost, estimated before it runs, and
what happens above the budget.

estimate = sum over jobs of (forward units x seconds per unit), where a method declares its
units (`Method.cost`: one per perturbed input, GRAD_UNITS per gradient step) and the seconds
per unit are measured on this input, on this machine, now (`Problem.unit_s`). Above the
budget a request is either refused with the estimate and what to change, or reduced: the
methods that can (`Method.shrink`) run fewer samples or coarser perturbations, scaled
together so the whole fits, and each says so in its notes.

Two guards keep the estimate honest on a shared machine:
- `HOST_SPEED` remembers the fastest time seen for the same work on this host (same model,
  length, precision and thread count), so the same request is planned the same way whether
  the machine is idle or busy right now (a busy machine's timing is several times slower,
  and it once refused what it had accepted when idle). A first request on a busy machine
  still plans from its own timing.
- `BoundedGuard` stops the work at the budget itself, for the whole request, telling what
  ran: the plan may be wrong (an estimate from an idle machine, on a busy one) but no
  request holds its lane past the budget and about one batch.
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

import torch

from ...types import OverBudget
from .base import Method, Problem
from .faithfulness import MAX_POINTS, curve_units
from .guard import Guard
from .problem import CALIBRATION_ITEMS, calibrated, retimed

FAST = "Saliency, Input × Gradient or Integrated Gradients"
MODES = ("reduce", "refuse")


@dataclass
class Job:
    """One method on one problem, with the faithfulness curves that run along with it:
    `curve_orders` orders (1: the map's own; + N_RANDOM when its random reference is not
    shared) at `curve_points` points, on `curve_problem` (the same input, maybe in another
    precision: see precision.py; None = `problem`)."""

    method: Method
    params: dict
    problem: Problem
    curve_orders: int = 0
    curve_points: int = MAX_POINTS
    curve_problem: Problem | None = None

    @property
    def curves_on(self) -> Problem:
        return self.problem if self.curve_problem is None else self.curve_problem

    @property
    def extra_units(self) -> float:
        return curve_units(self.problem.n_free, self.curve_orders, self.curve_points)

    def units(self, params: dict | None = None) -> float:
        p = self.problem
        return self.method.cost(p.n_tokens, p.n_free, self.params if params is None else params)

    def seconds(self, params: dict | None = None) -> float:
        return (self.problem.seconds_for(self.units(params))
                + self.curves_on.seconds_for(self.extra_units))


@dataclass(frozen=True)
class Plan:
    """What will run: each job's parameters and notes, and the estimate in seconds."""

    params: list[dict]
    notes: list[list[str]]
    seconds: list[float]            # per job
    estimate_s: float               # all jobs plus the fixed part
    full_estimate_s: float          # before any reduction
    reduced: bool = False
    fixed_s: float = 0.0            # the work outside the jobs (the shared reference curves)
    curve_points: int = MAX_POINTS  # of every deletion / insertion curve

    def after(self, i: int) -> float:
        """Seconds planned for the jobs after job i."""
        return sum(self.seconds[i + 1:])


def _room(budget_s: float, total_s: float) -> str:
    """The time the refusal measured against: the whole budget, or what is left of it when
    earlier parts of the same request spent some."""
    if budget_s < total_s - 0.05:
        return (f"only {budget_s:.1f} s of the time budget of {total_s:g} s for this whole "
                "request are left for this part")
    return f"the time budget is {total_s:g} s"


def _describe(jobs: list[Job], estimate_s: float, budget_s: float, total_s: float,
              least_s: float | None = None) -> str:
    """The refusal: the estimate, what it is made of, and what would fit. least_s: the
    estimate at the smallest settings (what a shorter text is measured against)."""
    p = max((j.problem for j in jobs), key=lambda q: q.n_tokens)
    units = sum(j.units() + j.extra_units for j in jobs)
    # cost grows ~ tokens^2 for perturbation methods (n forwards of n tokens), so a text
    # shorter by sqrt(budget / estimate) fits
    fits = int(p.n_tokens * math.sqrt(max(budget_s, 0.0) / (least_s or estimate_s)))
    shorter = (f"about {fits} tokens would fit" if fits >= 8 else
               "much shorter: even the setup took most of the budget")
    return (f"this request would take about {estimate_s:.0f} s (the work of {units:,.0f} "
            f"forward passes of {p.n_tokens} tokens, ~{p.unit_s * 1e3:.0f} ms each here, now), "
            f"and {_room(budget_s, total_s)}. Shorten the text ({shorter}), choose a "
            f"faster method ({FAST}), or use fewer samples")


def _calibrate(jobs: list[Job], budget_s: float) -> None:
    """Re-time each distinct problem in place: split per-call overhead from per-item cost
    (`calibrated`) if that costs under 5 % of the budget, else (a long text, where the split
    matters little) just time its forward once more (`retimed`)."""
    distinct = {id(p): p for j in jobs for p in (j.problem, j.curves_on)}
    cheap = sum((2 + CALIBRATION_ITEMS) * p.unit_s for p in distinct.values()) <= 0.05 * budget_s
    done = {key: (calibrated if cheap else retimed)(p) for key, p in distinct.items()}
    for j in jobs:
        j.problem, j.curve_problem = done[id(j.problem)], done[id(j.curves_on)]


def _shared_s(jobs: list[Job], orders: int, points: int) -> float:
    """Seconds of the random-order reference curves shared by all jobs (on the first job's
    curve problem)."""
    p = jobs[0].curves_on
    return p.seconds_for(curve_units(p.n_free, orders, points)) if orders else 0.0


def _shrink(jobs: list[Job], budget_s: float, fixed_s: float, full: float):
    """The flexible methods (those with `shrink`) scaled down together from their asked-for
    parameters until the estimate fits or all are at their floors: (params, seconds,
    estimate)."""
    params = [dict(j.params) for j in jobs]
    seconds = [j.seconds() for j in jobs]
    flexible = [i for i, j in enumerate(jobs) if j.method.shrink is not None]
    factor, estimate = 1.0, full
    for _ in range(8):     # shrink() rounds and has floors: converge in a few passes
        flex_s = sum(jobs[i].problem.seconds_for(jobs[i].units(params[i])) for i in flexible)
        over = estimate - budget_s
        if over <= 0 or flex_s <= 0:
            break
        factor *= max(1 - over / flex_s, 0.01) * 0.98      # 2 % under, as shrink() rounds
        for i in flexible:
            p = jobs[i].problem
            params[i] = jobs[i].method.shrink(jobs[i].params, factor, p.n_tokens, p.n_free)
        previous, seconds = estimate, [j.seconds(q) for j, q in zip(jobs, params)]
        estimate = fixed_s + sum(seconds)
        if estimate >= previous:           # every flexible method is at its floor
            break
    return params, seconds, estimate


def _notes(jobs: list[Job], params: list[dict], why: str) -> list[list[str]]:
    notes: list[list[str]] = [[] for _ in jobs]
    for i, (j, q) in enumerate(zip(jobs, params)):
        changed = {k: v for k, v in q.items() if v != j.params.get(k)}
        if changed:
            was = ", ".join(f"{k}={j.params[k]}" for k in changed)
            now = ", ".join(f"{k}={v}" for k, v in changed.items())
            notes[i].append(f"Ran with {now} (instead of {was}) {why}. For the full run, "
                            "shorten the text or raise the budget (MMINSPECT_BUDGET_S).")
    return notes


FEWER_POINTS = 3   # curve points when the budget needs it (2 inner points instead of 5)


def _steady(jobs: list[Job], speed_key: tuple | None) -> None:
    """Each distinct problem's timing replaced, in place, by the host's best for it."""
    if speed_key is None:
        return
    distinct = {id(p): p for j in jobs for p in (j.problem, j.curves_on)}
    done = {key: HOST_SPEED.problem(speed_key, p) for key, p in distinct.items()}
    for j in jobs:
        j.problem, j.curve_problem = done[id(j.problem)], done[id(j.curves_on)]


def plan_budget(jobs: list[Job], budget_s: float, mode: str = "reduce",
                shared_orders: int = 0, total_s: float | None = None,
                speed_key: tuple | None = None) -> Plan:
    """The plan for `jobs` within `budget_s` seconds (shared_orders: random-order reference
    curves computed once for all jobs; total_s: the request's whole budget, for messages,
    when part of it is already spent). Raises OverBudget when it cannot fit. speed_key
    (e.g. the model's name): plan with the host's best timing of the same work (HOST_SPEED).

    Reduce mode shrinks the flexible methods first; if they reach their floors and it still
    does not fit, the deletion / insertion curves get fewer points too."""
    total_s = budget_s if total_s is None else total_s
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    _steady(jobs, speed_key)
    full = _shared_s(jobs, shared_orders, MAX_POINTS) + sum(j.seconds() for j in jobs)
    if full > budget_s:                    # the first estimate errs high: measure better
        _calibrate(jobs, budget_s)
        _steady(jobs, speed_key)
        full = _shared_s(jobs, shared_orders, MAX_POINTS) + sum(j.seconds() for j in jobs)
    if full <= budget_s:
        return Plan([dict(j.params) for j in jobs], [[] for _ in jobs],
                    [j.seconds() for j in jobs], full, full,
                    fixed_s=_shared_s(jobs, shared_orders, MAX_POINTS))
    if mode == "refuse":
        raise OverBudget(f"Not run: {_describe(jobs, full, budget_s, total_s)}.")
    points = MAX_POINTS
    fixed = _shared_s(jobs, shared_orders, points)
    params, seconds, estimate = _shrink(jobs, budget_s, fixed, full)
    if estimate > budget_s and (shared_orders or any(j.curve_orders for j in jobs)):
        points = FEWER_POINTS
        for j in jobs:
            j.curve_points = points
        fixed = _shared_s(jobs, shared_orders, points)
        params, seconds, estimate = _shrink(jobs, budget_s, fixed,
                                            fixed + sum(j.seconds() for j in jobs))
    if estimate > budget_s:
        raise OverBudget("Not run, even with fewer samples: "
                         f"{_describe(jobs, full, budget_s, total_s, estimate)}.")
    why = (f"to stay within the time budget of {total_s:g} s: the full request was estimated "
           f"at {full:.0f} s at {max(j.problem.n_tokens for j in jobs)} tokens")
    notes = _notes(jobs, params, why)
    if points != MAX_POINTS:
        for i, j in enumerate(jobs):
            if j.curve_orders or shared_orders:
                notes[i].append(f"Deletion / insertion curves with {points} points instead of "
                                f"{MAX_POINTS} {why}: their areas are coarser.")
    return Plan(params, notes, seconds, estimate, full, reduced=True, fixed_s=fixed,
                curve_points=points)


def _slowed(p: Problem, slow: float) -> Problem:
    return replace(p, unit_s=p.unit_s * slow, call_s=p.call_s * slow)


SLOWER = 1.25     # re-plan when the work so far ran this much slower than its estimate


def keep_pace(plan: Plan, jobs: list[Job], i: int, guard, mode: str) -> Plan:
    """Before job i: if the jobs so far ran slower than planned (the machine got busier, or
    the estimate erred) and the rest would end past the budget, shrink the rest by the
    measured slowdown (reduce mode; at worst to their floors, and the guard's hard stop
    remains). The plan is unchanged otherwise."""
    planned = plan.fixed_s + sum(plan.seconds[:i])
    spent = guard.elapsed() - guard.plan_t0
    if mode != "reduce" or i == 0 or planned <= 0 or spent <= SLOWER * planned:
        return plan
    slow = spent / planned
    left = guard.budget_s - guard.elapsed()
    if slow * sum(plan.seconds[i:]) <= left:
        return plan
    rest = [replace(j, problem=_slowed(j.problem, slow), curve_problem=_slowed(j.curves_on, slow))
            for j in jobs[i:]]
    full = sum(j.seconds() for j in rest)
    params, seconds, _ = _shrink(rest, left, 0.0, full)
    why = (f"to stay within the time budget of {guard.budget_s:g} s: the work ran {slow:.1f}x "
           "slower than estimated (the machine is busy)")
    notes = _notes(rest, params, why)
    return replace(plan, params=plan.params[:i] + params,
                   notes=[plan.notes[k] if k < i else notes[k - i] or plan.notes[k]
                          for k in range(len(jobs))],
                   seconds=plan.seconds[:i] + [s / slow for s in seconds], reduced=True)


GRACE_S = 1.0     # a request may end this long after its budget (the last batch's tail)


class BoundedGuard(Guard):
    """A Guard whose hard stop is the budget of the whole request. Before a batch of
    `next_items` (set by whoever runs it: api/attribution.py's metered forward, the causal
    loops), it predicts the batch's time from the last one (seconds between two checks per
    item: forward, backward and the method's own work) and stops, with a message that says
    how long it ran and what was running, if the batch would end more than GRACE_S past the
    budget; without a count it stops at the first check past the budget."""

    def __init__(self, *args, total_s: float | None = None, spent_s: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        # for the message: the request's whole budget and what it had spent before this guard
        self.total_s = self.budget_s if total_s is None else float(total_s)
        self.spent_s = float(spent_s)
        self.next_items = 0
        self._last, self._last_items = 0.0, 0
        self.done: list[str] = []          # what finished, for the message (set by the caller)

    def predicted_s(self, elapsed: float) -> float:
        """Seconds the coming batch should take, from the last batch's time per item."""
        if not (self._last_items and self.next_items):
            return 0.0
        return (elapsed - self._last) / self._last_items * self.next_items

    def check(self, force_report: bool = False) -> None:
        elapsed = self.elapsed()
        predicted = self.predicted_s(elapsed)
        self._last, self._last_items, self.next_items = elapsed, self.next_items, 0
        if elapsed > self.budget_s or elapsed + predicted > self.budget_s + GRACE_S:
            finished = (f" Finished before the stop: {', '.join(self.done)}." if self.done
                        else " Nothing had finished.")
            slower = (f" It was estimated at {self.estimate_s:.0f} s; the work ran slower than "
                      "that (the machine is busy now, or the estimate erred)."
                      if self.estimate_s > 1e-6 else "")
            raise OverBudget(f"Stopped after {self.spent_s + elapsed:.1f} s: the time budget "
                             f"of {self.total_s:g} s for this whole request ran out while "
                             f"\u201c{self.desc}\u201d was running.{slower}{finished} Ask for "
                             "less at once (fewer methods, a shorter text) or try again later.")
        super().check(force_report)


class HostSpeed:
    """The fastest per-item and per-call times seen on this host for one kind of work,
    keyed by what decides them (model, tokens, precision, threads). Thread-safe; at most
    MAX entries, least recently used out."""

    MAX = 512

    def __init__(self):
        self._best: OrderedDict[tuple, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def steady(self, key: tuple, unit_s: float, call_s: float = 0.0) -> tuple[float, float]:
        """(unit_s, call_s) no slower than the best seen for `key`; records the new ones."""
        key = (*key, torch.get_num_threads())
        with self._lock:
            best = self._best.pop(key, (unit_s, call_s))
            best = (min(best[0], unit_s), min(best[1], call_s))
            self._best[key] = best
            while len(self._best) > self.MAX:
                self._best.popitem(last=False)
        return best

    def problem(self, key: tuple, p: Problem) -> Problem:
        """`p` with its timing no slower than the best seen for the same work. A calibrated
        timing (per-call cost split out, call_s > 0) is kept apart from a plain one."""
        unit, call = self.steady((*key, p.n_tokens, str(p.inputs.dtype), p.call_s > 0),
                                 p.unit_s, p.call_s)
        return replace(p, unit_s=unit, call_s=call)

    def clear(self) -> None:
        with self._lock:
            self._best.clear()


HOST_SPEED = HostSpeed()
