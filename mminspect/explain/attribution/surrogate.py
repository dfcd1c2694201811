"""Surrogate-model methods: LIME and KernelSHAP (captum). Both switch random subsets of
tokens to the baseline, run the model on each, and fit a weighted linear model from "which
tokens were kept" to the target; its coefficients are the scores.

Captum fits that model with scikit-learn by default; we pass a closed-form weighted ridge
in torch (`WeightedRidge`): exact, fast on a few hundred samples, and no extra dependency.
"""
from __future__ import annotations

import torch
from captum._utils.models.model import Model
from captum.attr import KernelShap, Lime
from torch.utils.data import DataLoader

from .ablation import token_features
from .base import Method, MethodOutput, Param, Problem, fewer_samples, group_scores


class WeightedRidge(Model):
    """Weighted least squares with an unpenalised intercept, solved in float64:
    minimise sum_i w_i (y_i - x_i.beta - b)^2 + alpha |beta|^2."""

    def __init__(self, alpha: float = 1e-3):
        self.alpha = alpha
        self.coef: torch.Tensor | None = None    # [1, feature]
        self.bias: torch.Tensor | None = None    # [1]

    def fit(self, train_data: DataLoader, **kwargs):
        xs, ys, ws = [], [], []
        for x, y, w in train_data:
            xs.append(x), ys.append(y), ws.append(w)
        x = torch.cat(xs).double().flatten(1)                         # [sample, feature]
        y = torch.cat(ys).double().reshape(-1)                        # [sample]
        w = torch.cat(ws).double().reshape(-1).clamp(min=0)           # [sample]
        w = w / w.sum().clamp(min=1e-12)
        # Centre by the weighted means so the intercept is not penalised.
        xm, ym = (w[:, None] * x).sum(0), (w * y).sum()               # [feature], []
        xc, yc = x - xm, y - ym                                       # [sample, feature], [sample]
        a = xc.T @ (w[:, None] * xc) + self.alpha * torch.eye(x.shape[1], dtype=x.dtype)
        # lstsq, not solve: with alpha = 0 and fewer samples than tokens the system is singular.
        beta = torch.linalg.lstsq(a, (xc.T @ (w * yc))[:, None], driver="gelsd").solution[:, 0]
        self.coef = beta[None].float()                                # [1, feature]
        self.bias = (ym - xm @ beta).reshape(1).float()               # [1]
        return {}

    def representation(self) -> torch.Tensor:
        return self.coef

    def __call__(self, x):
        return x.float().flatten(1) @ self.coef.T + self.bias


def _mask(problem: Problem) -> torch.Tensor:
    return token_features(problem).expand_as(problem.inputs)         # [1, token, d_model]


def lime(problem: Problem, n_samples: int = 48, alpha: float = 0.001) -> MethodOutput:
    # Default captum kernel: exp(-d^2 / width^2) on the cosine distance between the input
    # and each perturbed embedding matrix, so samples near the input count more.
    explainer = Lime(problem.forward, interpretable_model=WeightedRidge(alpha))
    torch.manual_seed(0)              # same map for the same input
    attr = explainer.attribute(problem.inputs, baselines=problem.baselines,
                               feature_mask=_mask(problem), n_samples=n_samples,
                               perturbations_per_eval=problem.batch_size)  # [1, token, d_model]
    scores = group_scores(attr)                                            # [token]
    return MethodOutput(scores=torch.where(problem.special, 0.0, scores).detach())


def kernel_shap(problem: Problem, n_samples: int = 48) -> MethodOutput:
    explainer = KernelShap(problem.forward)
    # No ridge: a penalty would shrink the Shapley estimates (the "infinite" weights on the
    # empty and full coalitions dwarf the others, so even a tiny alpha biases them).
    explainer.interpretable_model = WeightedRidge(alpha=0.0)
    torch.manual_seed(0)
    attr = explainer.attribute(problem.inputs, baselines=problem.baselines,
                               feature_mask=_mask(problem), n_samples=n_samples,
                               perturbations_per_eval=problem.batch_size)  # [1, token, d_model]
    scores = group_scores(attr)                                            # [token]
    return MethodOutput(scores=torch.where(problem.special, 0.0, scores).detach())


def sampled_cost(n_tokens: int, n_free: int, params: dict) -> float:
    return params.get("n_samples", 48) + 1     # the samples, and the input once


LIME = Method(
    name="lime", label="LIME", fn=lime, cost=sampled_cost, shrink=fewer_samples(16),
    needs_grad=False,
    params=(Param("n_samples", 48, 16, 512, 1, "Random token subsets the model is run on."),
            Param("alpha", 0.001, 0.0, 1.0, 0.001, "Ridge penalty of the surrogate linear model.")),
    description="Run the model on random subsets of the tokens (the rest set to the baseline) "
                "and fit a linear model, weighted towards subsets close to the full text; its "
                "coefficients are the scores.")
KERNEL_SHAP = Method(
    name="kernel_shap", label="KernelSHAP", fn=kernel_shap, complete=True, cost=sampled_cost,
    shrink=fewer_samples(16), needs_grad=False,
    params=(Param("n_samples", 48, 16, 512, 1, "Random token subsets the model is run on."),),
    description="LIME with the Shapley kernel: the linear fit estimates Shapley values, so the "
                "scores add up to f(input) - f(baseline).")
