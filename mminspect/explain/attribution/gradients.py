"""Gradient methods: Saliency, Input × Gradient (captum), GradientSHAP (sampled gradients)."""
from __future__ import annotations

import torch
from captum.attr import InputXGradient, Saliency

from .base import GRAD_UNITS, Method, MethodOutput, Param, Problem, fewer_samples, token_scores
from .paths import expected_gradients


def _leaf(problem: Problem) -> torch.Tensor:
    """The input as a fresh leaf that requires grad (captum would warn and flip it in place)."""
    return problem.inputs.clone().requires_grad_(True)                    # [1, token, d_model]


def saliency(problem: Problem) -> MethodOutput:
    grad = Saliency(problem.forward).attribute(_leaf(problem), abs=True)   # [1, token, d_model]
    # The L2 norm over the embedding: how sensitive the target is to each token, unsigned.
    return MethodOutput(scores=grad[0].norm(dim=-1).detach())               # [token]


def input_x_gradient(problem: Problem) -> MethodOutput:
    attr = InputXGradient(problem.forward).attribute(_leaf(problem))       # [1, token, d_model]
    return MethodOutput(scores=token_scores(attr).detach())


def gradient_shap(problem: Problem, n_samples: int = 16, stdevs: float = 0.0,
                  seed: int = 0) -> MethodOutput:
    """Expected gradients between the baseline and the input at random points of the path
    (one baseline, so a Monte Carlo IG), optionally with Gaussian noise on the input: what
    captum's GradientShap computes (with NoiseTunnel's smoothgrad mean over samples), by the
    one implementation the pixel method shares (paths.expected_gradients): the points run
    `problem.batch_size` at a time, each sample seeded by `seed` and its index, so the map
    does not depend on the batch size (tested) and is the same for the same input."""
    mean, _ = expected_gradients(problem.forward, problem.inputs[0], problem.baselines,
                                 n_samples, stdevs, seed, problem.batch_size, "point_first")
    attr = mean.to(problem.inputs.dtype)[None]                         # [1, token, d_model]
    return MethodOutput(scores=token_scores(attr).detach())


def gradient_shap_cost(n_tokens: int, n_free: int, params: dict) -> float:
    return GRAD_UNITS * params.get("n_samples", 16)


SALIENCY = Method(
    name="saliency", label="Saliency", fn=saliency,
    description="L2 norm of the gradient of the target w.r.t. each token's embedding: how much "
                "a small change of the token moves the target. Unsigned; one backward pass.")
INPUT_X_GRADIENT = Method(
    name="input_x_gradient", label="Input × Gradient", fn=input_x_gradient,
    description="Gradient times the embedding, summed over the embedding: a first-order "
                "estimate of each token's contribution (relative to a zero embedding).")
GRADIENT_SHAP = Method(
    name="gradient_shap", label="GradientSHAP", fn=gradient_shap, complete=True,
    cost=gradient_shap_cost, shrink=fewer_samples(4),
    params=(Param("n_samples", 16, 4, 128, 1, "Random points along the baseline-input path."),
            Param("stdevs", 0.0, 0.0, 0.1, 0.005, "Std of Gaussian noise added to the input embeddings.")),
    description="Gradients at random points between the baseline and the input, times "
                "(input - baseline): a sampled IG, so its scores add up to f(input) - f(baseline) "
                "in expectation.")
