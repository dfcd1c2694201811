"""Single-gradient methods: Saliency, Input × Gradient, GradientSHAP (captum)."""
from __future__ import annotations

import numpy as np
import torch
from captum.attr import GradientShap, InputXGradient, Saliency

from .base import Method, MethodOutput, Param, Problem, token_scores


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


def gradient_shap(problem: Problem, n_samples: int = 16, stdevs: float = 0.0) -> MethodOutput:
    # Expected gradients between the baseline and the input at random points of the path
    # (one baseline, so a Monte Carlo IG), optionally with Gaussian noise on the input.
    gs = GradientShap(problem.forward)
    # Same map for the same input. captum draws the path points with numpy's global RNG;
    # seeding it is safe because model events run one at a time (one queue).
    torch.manual_seed(0)
    np.random.seed(0)
    attr = gs.attribute(problem.inputs, baselines=problem.baselines, n_samples=n_samples,
                        stdevs=stdevs)                                     # [1, token, d_model]
    return MethodOutput(scores=token_scores(attr).detach())


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
    params=(Param("n_samples", 16, 4, 128, 1, "Random points along the baseline-input path."),
            Param("stdevs", 0.0, 0.0, 0.1, 0.005, "Std of Gaussian noise added to the input embeddings.")),
    description="Gradients at random points between the baseline and the input, times "
                "(input - baseline): a sampled IG, so its scores add up to f(input) - f(baseline) "
                "in expectation.")
