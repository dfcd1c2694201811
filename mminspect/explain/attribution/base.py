"""What every attribution method shares: its parameters as data, the problem it solves
(one text as word embeddings, a baseline, a scalar target) and what it returns.

Methods work on the word embeddings [1, token, d_model], not on ids: the gradient methods
need a continuous input, the zero-embedding baseline has no id, and IG on the embedding
output is exactly captum's LayerIntegratedGradients on the word-embedding layer (which
interpolates that layer's output), without the hook.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from ...types import InputError
from .guard import Guard


@dataclass(frozen=True)
class Param:
    """One tunable parameter, declared as data so the UI builds its control from it."""

    name: str
    default: float
    low: float
    high: float
    step: float = 1
    help: str = ""

    @property
    def is_int(self) -> bool:
        return all(float(v).is_integer() for v in (self.default, self.low, self.high, self.step))

    def coerce(self, value) -> float | int:
        """The value as the method needs it, or an InputError saying the allowed range."""
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{self.name} must be a number in [{self.low:g}, {self.high:g}], got {value!r}.") from None
        if not self.low <= v <= self.high:
            raise InputError(f"{self.name} must be in [{self.low:g}, {self.high:g}], got {v:g}. {self.help}")
        return int(round(v)) if self.is_int else v


@dataclass(frozen=True)
class Problem:
    """One input to explain, built per request (captum objects are built per call too).

    forward: word embeddings [batch, token, d_model] -> target [batch], with gradients.
    inputs / baselines: [1, token, d_model], detached; special positions hold the input in
    both, so every baseline keeps [CLS]/[SEP] in place. special: bool [token].
    f_input / f_baseline: the target at the input and at the baseline.
    batch_size: items per forward that fit the memory budget (steps, perturbations).
    """

    forward: Callable[[torch.Tensor], torch.Tensor]
    inputs: torch.Tensor
    baselines: torch.Tensor
    special: torch.Tensor
    f_input: float
    f_baseline: float
    batch_size: int
    unit_s: float = 0.0          # measured seconds of one forward item (no gradient) at this length
    call_s: float = 0.0          # measured fixed seconds of one forward call (see calibrated())
    guard: Guard | None = None   # the request's stop / budget / progress check (forward calls it)

    @property
    def n_tokens(self) -> int:
        return self.inputs.shape[1]

    def seconds_for(self, units: float) -> float:
        """Estimated seconds of `units` forward items run `batch_size` at a time."""
        return units * self.unit_s + math.ceil(units / self.batch_size) * self.call_s

    @property
    def n_free(self) -> int:
        """Tokens a method may perturb (special tokens stay in place)."""
        return int((~self.special).sum())


@dataclass(frozen=True)
class MethodOutput:
    """scores: float [token], signed. n_steps: integration steps of the final run (IG only)."""

    scores: torch.Tensor
    n_steps: int | None = None
    notes: list[str] = field(default_factory=list)


# Cost unit: one forward of one item without gradients, at the text's length. A gradient
# step (forward keeping activations + backward to the inputs only) costs ~2.2 of them
# (MiniLM on CPU, CPU time per item: 86 ms forward, 189 ms with the gradient at 256 tokens).
GRAD_UNITS = 2.2


def one_gradient(n_tokens: int, n_free: int, params: dict) -> float:
    return GRAD_UNITS


def fewer_samples(low: int):
    """shrink() for sampling methods: n_samples scaled down, never below `low`."""
    def shrink(params: dict, factor: float, n_tokens: int, n_free: int) -> dict:
        return {**params, "n_samples": max(low, int(params["n_samples"] * factor))}
    return shrink


@dataclass(frozen=True)
class Method:
    """A registered attribution method.

    fn(problem, **params) -> MethodOutput. complete: the method's scores should sum to
    f(input) - f(baseline) (IG, KernelSHAP, GradientSHAP in expectation), so its
    completeness error is worth showing.
    cost(n_tokens, n_free, params) -> forward units it will run (see GRAD_UNITS), for the
    time budget. shrink(params, factor, n_tokens, n_free) -> params that cost about `factor`
    (< 1) times as much (fewer samples, coarser perturbations), or None if it cannot shrink.
    needs_grad: it runs backward passes, so one item must fit the activation memory budget.
    """

    name: str
    label: str
    fn: Callable[..., MethodOutput]
    params: tuple[Param, ...] = ()
    complete: bool = False
    description: str = ""
    cost: Callable[[int, int, dict], float] = one_gradient
    shrink: Callable[[dict, float, int, int], dict] | None = None
    needs_grad: bool = True       # gradient methods keep activations: their memory check

    def resolve(self, given: dict) -> dict:
        return resolve_params(self.label, self.params, given)


def resolve_params(label: str, params: tuple[Param, ...], given: dict) -> dict:
    """Every declared parameter: its default overridden by `given`, checked against its range.
    Shared by text and image methods, which both declare their parameters as `Param`s."""
    known = {p.name: p for p in params}
    unknown = sorted(set(given) - set(known))
    if unknown:
        allowed = ", ".join(known) or "none"
        raise InputError(f"{label} has no parameter {unknown[0]!r}; its parameters: {allowed}.")
    return {name: p.coerce(given.get(name, p.default)) for name, p in known.items()}


ABS_FLOOR = 1e-6   # a target gap this small is numerically zero


def completeness(scores_sum: float, problem: Problem) -> tuple[float, float]:
    """(absolute, relative) completeness error: |sum(scores) - (f(input) - f(baseline))|,
    and that divided by |f(input) - f(baseline)|."""
    gap = problem.f_input - problem.f_baseline
    err = abs(scores_sum - gap)
    return err, err / max(abs(gap), ABS_FLOOR)


def token_scores(attr: torch.Tensor) -> torch.Tensor:
    """Per-element attributions [1, token, d_model] -> per-token scores [token] (sum over d:
    IG's completeness holds for the sum)."""
    return attr[0].sum(-1)                                            # [token]


def group_scores(attr: torch.Tensor) -> torch.Tensor:
    """Perturbation methods repeat one value over a token's d_model elements: take it once."""
    return attr[0].mean(-1)                                           # [token]
