"""Perturbation methods: Feature Ablation (one token at a time) and Occlusion (a sliding
window of tokens), via captum. Removing a token = putting the baseline's embedding there."""
from __future__ import annotations

import torch
from captum.attr import FeatureAblation, Occlusion

from .base import Method, MethodOutput, Param, Problem, group_scores


def token_features(problem: Problem) -> torch.Tensor:
    """Feature mask [1, token, 1]: each token its own feature; all special tokens share one
    (their baseline is themselves, so ablating them is a no-op: one wasted forward, not many)."""
    special = problem.special
    ids = torch.cumsum(~special, 0) - 1                                # [token]
    ids = torch.where(special, int((~special).sum()), ids)             # [token]
    return ids[None, :, None]                                          # [1, token, 1]


def feature_ablation(problem: Problem) -> MethodOutput:
    fa = FeatureAblation(problem.forward)
    attr = fa.attribute(problem.inputs, baselines=problem.baselines,
                        feature_mask=token_features(problem).expand_as(problem.inputs),
                        perturbations_per_eval=problem.batch_size)    # [1, token, d_model]
    return MethodOutput(scores=group_scores(attr).detach())


def occlusion(problem: Problem, window: int = 3) -> MethodOutput:
    d = problem.inputs.shape[-1]
    window = min(window, problem.n_tokens)
    oc = Occlusion(problem.forward)
    attr = oc.attribute(problem.inputs, sliding_window_shapes=(window, d), strides=(1, d),
                        baselines=problem.baselines,
                        perturbations_per_eval=problem.batch_size)    # [1, token, d_model]
    return MethodOutput(scores=group_scores(attr).detach())


FEATURE_ABLATION = Method(
    name="feature_ablation", label="Feature Ablation", fn=feature_ablation,
    description="Replace one token at a time by the baseline and record how much the target "
                "drops: f(input) - f(input without the token). One forward per token.")
OCCLUSION = Method(
    name="occlusion", label="Occlusion", fn=occlusion,
    params=(Param("window", 3, 1, 9, 1, "Tokens replaced together; each token gets the mean "
                  "drop of the windows that cover it."),),
    description="Slide a window of tokens over the text, replace it by the baseline, and give "
                "each token the mean drop of the windows covering it: catches effects that "
                "need neighbouring tokens together.")
