"""Between two steps of a long attribution: stop if asked, stop if far past the time budget,
report progress.

Every method reaches the model through `Problem.forward`, one batch at a time (IG's step
chunks, perturbation batches, LIME / KernelSHAP samples, faithfulness curves), so the forward
calls `guard.check()` first and a stop lands within one batch whatever the method.

    guard = Guard(budget_s=60, progress=report, should_stop=client_left)
    guard.plan(estimate_s)               # after the up-front estimate (see budget.py)
    guard.job("Occlusion", until_s=48)   # entering a job that should end by 48 s in
    guard.check()                        # raises Cancelled / OverBudget, or reports progress
    guard.fits(seconds)                  # would a further try fit (IG's adaptive steps)?

Pure Python (no torch), so image methods can use it too.
"""
from __future__ import annotations

import math
import time

from ...types import Cancelled, OverBudget, Progress, StopCheck

# The estimate is a measurement times a count; a busy machine can be ~2x slower than the
# moment it was measured. Past HARD_FACTOR x the budget (and HARD_FLOOR_S) the work stops.
HARD_FACTOR = 2.0
HARD_FLOOR_S = 10.0
REPORT_EVERY_S = 0.2       # progress callbacks at most this often (each costs a UI update)


def _no_progress(fraction: float, desc: str) -> None:
    pass


class Guard:
    """One request's clock, cancellation check and progress; not shared between requests."""

    def __init__(self, budget_s: float = math.inf,
                 progress: Progress | None = None,
                 should_stop: StopCheck | None = None,
                 start: float = 0.05, end: float = 0.95):
        self.budget_s = float(budget_s)
        self.progress = progress or _no_progress
        self.should_stop = should_stop
        self.span = (start, end)           # the part of the progress bar the planned work fills
        self.t0 = time.perf_counter()
        self.estimate_s = 0.0
        self.plan_t0 = 0.0
        self.until_s = math.inf
        self.desc = ""
        self.checks = 0
        self._reported = -math.inf

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def plan(self, estimate_s: float) -> None:
        """The estimate of the work from now on: progress is the share of it elapsed."""
        self.estimate_s, self.plan_t0 = max(float(estimate_s), 1e-9), self.elapsed()

    def job(self, desc: str, until_s: float = math.inf) -> None:
        """Entering one job (a method, a side); it should end `until_s` seconds after the
        start, leaving the planned later jobs their time."""
        self.desc, self.until_s = desc, float(until_s)
        self.check(force_report=True)

    def fits(self, seconds: float) -> bool:
        """True if `seconds` more work still ends this job in its time."""
        return self.elapsed() + seconds <= min(self.until_s, self.budget_s)

    def check(self, force_report: bool = False) -> None:
        """Called before every forward batch: stop here, or report and go on."""
        self.checks += 1
        if self.should_stop is not None and self.should_stop():
            raise Cancelled("Stopped on request; no result was produced.")
        elapsed = self.elapsed()
        hard = max(self.budget_s * HARD_FACTOR, self.budget_s + HARD_FLOOR_S)
        if elapsed > hard:
            raise OverBudget(
                f"Stopped after {elapsed:.0f} s: this request was estimated at "
                f"{self.estimate_s:.0f} s but is running much slower (the server is busy), and "
                f"the time budget is {self.budget_s:g} s. Try again, or shorten the text or "
                "choose a faster method.")
        if force_report or elapsed - self._reported >= REPORT_EVERY_S:
            self._reported = elapsed
            a, b = self.span
            # the progress callback may raise Cancelled too (the UI's way to say "client left")
            done = (elapsed - self.plan_t0) / self.estimate_s if self.estimate_s else 0.0
            self.progress(a + (b - a) * min(max(done, 0.0), 1.0), self.desc)
