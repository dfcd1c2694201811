"""What every part of the causal lab shares (text models, and both towers of CLIP-style
models): where a text model's heads are, the ablation modes, and the time budget of a scan or
patching. It imports none of api/causal*.py, so they all stand on it without a circle."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from operator import attrgetter

import torch

from ..explain.attribution.budget import HOST_SPEED, BoundedGuard
from ..models.families import HEAD_SITES
from ..types import InputError, OverBudget, StopCheck
from ..types.causal import ABLATION_MODES
from .limits import budget_in_force

MEAN_OVER = "the input's positions"


@dataclass(frozen=True)
class Sites:
    """Where one loaded model's heads and layers are: one module per layer."""

    attention_out: list[torch.nn.Module]   # input: [batch, token, head * d_head]
    blocks: list[torch.nn.Module]          # output: the residual stream [batch, token, d_model]
    n_heads: int

    @property
    def n_layers(self) -> int:
        return len(self.blocks)


def head_sites(adapter) -> Sites:
    """The attention output projections and blocks of a text adapter's model, from the
    family table; an InputError naming the known families for any other model."""
    spec = HEAD_SITES.get(adapter.model_type)
    if spec is None:
        raise InputError(f"Head ablation and patching know these families: "
                         f"{', '.join(HEAD_SITES)}; {adapter.name} is a {adapter.model_type} "
                         "model. Choose a model of a known family.")
    base = attrgetter(spec["root"])(adapter)                # the base model (models/arch.py)
    layers = range(adapter.n_layers)
    return Sites(attention_out=[base.get_submodule(spec["attention_out"].format(layer=i)) for i in layers],
                 blocks=[base.get_submodule(spec["block"].format(layer=i)) for i in layers],
                 n_heads=adapter.sizes()["heads"])


def check_mode(mode: str) -> None:
    if mode not in ABLATION_MODES:
        raise InputError(f"Unknown ablation mode {mode!r}; choose one of: {', '.join(ABLATION_MODES)}.")


def replacement(mode: str, contexts: dict, layer: int) -> torch.Tensor:
    """What replaces an ablated head's context: zeros, or its mean over the input's positions."""
    if mode == "zero":
        return torch.zeros((), device=contexts[layer].device)
    return contexts[layer].mean(dim=1, keepdim=True)                     # [1, 1, head, d_head]


class CausalBudget:
    """One scan's or patching's time budget, as the attributions have: the cost estimated
    up front (the clean forward's time x the items still to run, at the host's best speed
    for the same work, see HOST_SPEED), refused above the budget with what would fit, and
    the work stopped between batches at the budget (BoundedGuard). budget_s: the call's own
    budget (default MMINSPECT_BUDGET_S), never past the request's (limits.request_budget).
    The estimate errs high for short inputs (a batch costs less per item than one item)."""

    def __init__(self, budget_s=None, should_stop: StopCheck | None = None):
        left, total, spent = budget_in_force(budget_s)
        self.guard = BoundedGuard(left, None, should_stop, total_s=total, spent_s=spent)
        self.guard.desc = "the clean run"
        self.estimate_s = 0.0

    def plan(self, key: tuple, item_s: float, n_items: int, what: str, smaller: str) -> None:
        """Refuse (OverBudget) if `n_items` forward items of `item_s` seconds each do not fit."""
        unit = HOST_SPEED.steady(("causal", *key), item_s)[0]
        self.estimate_s = unit * n_items
        left = self.guard.budget_s - self.guard.elapsed()
        if self.estimate_s > left:
            raise OverBudget(f"Not run: {what} takes {n_items:,} forward passes, about "
                             f"{self.estimate_s:.0f} s here (~{unit * 1e3:.0f} ms each), and "
                             f"{left:.0f} s of the time budget are left. {smaller}")
        self.guard.plan(self.estimate_s)

    def step(self, desc: str, items: int = 0) -> None:
        """Before a batch of `items`: stop if asked to, or if it would end past the budget."""
        self.guard.desc, self.guard.next_items = desc, int(items)
        self.guard.check()


def timed(fn, *args):
    """(fn(*args), seconds it took)."""
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def fits_tokens(n_tokens: int, budget_s: float, estimate_s: float) -> int:
    """Tokens that would fit: the cost grows ~ tokens^2 (one item per position or head, each
    as long as the text); with no budget (math.inf) every token fits."""
    ratio = max(budget_s, 0.0) / max(estimate_s, 1e-9)
    return n_tokens if math.isinf(ratio) else max(1, int(n_tokens * ratio ** 0.5))
