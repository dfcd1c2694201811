"""Does the map rank tokens by what the model uses? Deletion and insertion curves
(Petsiuk et al. 2018, on tokens) against a random order, and the completeness error.

Deletion: replace the top-k tokens (attribution order, most positive first) by the baseline
and record the target as k grows; a faithful map makes it fall fast. Insertion: start from
the baseline and put the top-k tokens back; it should rise fast. Special tokens stay in place.
The random-order curves depend only on the input, so a method comparison computes them once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...types import Faithfulness
from .base import Problem, completeness

MAX_POINTS = 6     # curve points after 0 (5 inner ones run: 10 forwards per map)
N_RANDOM = 3       # random orders averaged for the reference curves (30 forwards, shared)


@dataclass(frozen=True)
class Curves:
    fractions: np.ndarray     # [step]
    deletion: np.ndarray      # [step]
    insertion: np.ndarray     # [step]


def _steps(n_free: int, max_points: int) -> np.ndarray:
    """How many tokens are removed / added at each point: 0..n_free, at most max_points + 1,
    spaced quadratically (30 tokens: 0 1 3 8 13 21 30): the first few tokens removed are
    where maps differ most, so they get the points."""
    if n_free <= max_points:
        return np.arange(n_free + 1)
    grid = np.linspace(0, 1, max_points + 1) ** 2
    return np.unique(np.round(grid * n_free).astype(int))


@torch.no_grad()
def curves(problem: Problem, orders: np.ndarray, max_points: int = MAX_POINTS) -> Curves:
    """Mean deletion and insertion curves over `orders` [order, free token] (positions).

    The end points are known without a forward (nothing removed = f(input), everything
    removed = f(baseline)), so only the inner points are run."""
    n_free = orders.shape[1]
    ks = _steps(n_free, max_points)                                   # [step]
    inner = ks[1:-1]                                                  # [step - 2]
    x, b = problem.inputs[0], problem.baselines[0]                    # [token, d_model]
    values = np.zeros((2, len(ks)), dtype=np.float64)                 # [deletion/insertion, step]
    values[0, 0] = values[1, -1] = problem.f_input
    values[0, -1] = values[1, 0] = problem.f_baseline
    if len(inner):
        masks = torch.zeros(len(orders), len(inner), problem.n_tokens, dtype=torch.bool)
        for o, order in enumerate(orders):
            for s, k in enumerate(inner):
                masks[o, s, torch.as_tensor(order[:k], dtype=torch.long)] = True  # the top-k tokens
        masks = masks.reshape(-1, problem.n_tokens, 1).to(x.device)   # [order * step, token, 1]
        deleted = torch.where(masks, b, x)                            # top-k set to the baseline
        inserted = torch.where(masks, x, b)                           # only the top-k from the input
        batch = torch.cat([deleted, inserted])                        # [2 * order * step, token, d]
        size = max(problem.batch_size * 3, 1)   # no backward here: ~3x the items fit in memory
        out = torch.cat([problem.forward(chunk) for chunk in batch.split(size)])
        values[:, 1:-1] = out.double().cpu().numpy().reshape(2, len(orders), len(inner)).mean(1)
    return Curves(fractions=(ks / max(n_free, 1)).astype(np.float32),
                  deletion=values[0], insertion=values[1])


def curve_units(n_free: int, n_orders: int = 1, max_points: int = MAX_POINTS) -> int:
    """Forwards (no gradient) that `curves` runs for `n_orders` orders: deletion and
    insertion at each inner point (the time budget counts them)."""
    return 2 * n_orders * max(len(_steps(n_free, max_points)) - 2, 0)


def free_positions(problem: Problem) -> np.ndarray:
    return np.flatnonzero(~problem.special.cpu().numpy())             # [free token]


def random_curves(problem: Problem, n_orders: int = N_RANDOM, seed: int = 0,
                  max_points: int = MAX_POINTS) -> Curves:
    free = free_positions(problem)
    rng = np.random.default_rng(seed)
    orders = np.stack([rng.permutation(free) for _ in range(n_orders)])   # [order, free token]
    return curves(problem, orders, max_points)


def attribution_order(problem: Problem, scores: np.ndarray) -> np.ndarray:
    """Free positions sorted by score, highest first (ties in text order)."""
    free = free_positions(problem)
    return free[np.argsort(-scores[free], kind="stable")]


def faithfulness(problem: Problem, scores: np.ndarray, reference: Curves | None = None,
                 complete: bool = False, max_points: int = MAX_POINTS) -> Faithfulness:
    """Curves and areas for one map; `reference` = random_curves(problem) when shared."""
    reference = reference or random_curves(problem, max_points=max_points)
    ours = curves(problem, attribution_order(problem, scores)[None], max_points)
    f = ours.fractions
    err = rel = None
    if complete:
        err, rel = completeness(float(np.sum(scores, dtype=np.float64)), problem)
    return Faithfulness(
        fractions=f, deletion=ours.deletion, deletion_random=reference.deletion,
        insertion=ours.insertion, insertion_random=reference.insertion,
        deletion_area=float(np.trapezoid(reference.deletion - ours.deletion, f)),
        insertion_area=float(np.trapezoid(ours.insertion - reference.insertion, f)),
        completeness_error=err, completeness_relative=rel)
