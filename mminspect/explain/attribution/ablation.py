"""Perturbation methods: Feature Ablation (one token, or one group of adjacent tokens, at a
time) and Occlusion (a sliding window of tokens), via captum. Removing a token = putting the
baseline's embedding there.

Their cost is one forward per feature or window (n tokens -> ~n forwards of n tokens), run
`problem.batch_size` at a time (captum's `perturbations_per_eval`). On a CPU batching saves
little: each forward is already matrix products big enough to keep the cores busy, so the
honest lever when a text is long is fewer forwards (`group`, `stride`), which the time budget
uses, with a note, rather than running for minutes.
"""
from __future__ import annotations

import math

import torch
from captum.attr import FeatureAblation, Occlusion

from .base import Method, MethodOutput, Param, Problem, group_scores


def token_features(problem: Problem, group: int = 1) -> torch.Tensor:
    """Feature mask [1, token, 1]: each run of `group` adjacent non-special tokens is one
    feature; all special tokens share one (their baseline is themselves, so ablating them is
    a no-op: one wasted forward, not many)."""
    special = problem.special
    ids = (torch.cumsum(~special, 0) - 1) // group                     # [token]
    n_groups = math.ceil(int((~special).sum()) / group)
    ids = torch.where(special, n_groups, ids)                          # [token]
    return ids[None, :, None]                                          # [1, token, 1]


def feature_ablation(problem: Problem, group: int = 1) -> MethodOutput:
    mask = token_features(problem, group)                              # [1, token, 1]
    fa = FeatureAblation(problem.forward)
    attr = fa.attribute(problem.inputs, baselines=problem.baselines,
                        feature_mask=mask.expand_as(problem.inputs),
                        perturbations_per_eval=problem.batch_size)    # [1, token, d_model]
    scores = group_scores(attr)                                        # [token]
    if group > 1:
        # captum gives every token of a group the group's whole drop; share it out, so a
        # word (or the whole text) sums to the drops of removing its groups.
        sizes = torch.bincount(mask[0, :, 0])[mask[0, :, 0]]           # [token]
        scores = scores / sizes
    return MethodOutput(scores=scores.detach())


def feature_ablation_cost(n_tokens: int, n_free: int, params: dict) -> float:
    # one forward per group, one for the special tokens' feature, one for the input itself
    return math.ceil(n_free / params.get("group", 1)) + 2


def feature_ablation_shrink(params: dict, factor: float, n_tokens: int, n_free: int) -> dict:
    wanted = max(factor * feature_ablation_cost(n_tokens, n_free, params) - 2, 1)
    group = max(params.get("group", 1), math.ceil(n_free / wanted))
    return {**params, "group": min(group, GROUP_MAX)}


def occlusion(problem: Problem, window: int = 3, stride: int = 1) -> MethodOutput:
    d = problem.inputs.shape[-1]
    window = min(window, problem.n_tokens)
    stride = min(stride, window)                   # captum: a stride may not exceed the window
    oc = Occlusion(problem.forward)
    attr = oc.attribute(problem.inputs, sliding_window_shapes=(window, d), strides=(stride, d),
                        baselines=problem.baselines,
                        perturbations_per_eval=problem.batch_size)    # [1, token, d_model]
    return MethodOutput(scores=group_scores(attr).detach())


def occlusion_cost(n_tokens: int, n_free: int, params: dict) -> float:
    window = min(params.get("window", 3), n_tokens)
    stride = min(params.get("stride", 1), window)
    return math.ceil((n_tokens - window) / stride) + 1 + 1    # captum's window count + the input


def occlusion_shrink(params: dict, factor: float, n_tokens: int, n_free: int) -> dict:
    """A larger stride (windows overlap less); past the window, the window grows with it
    (every token must stay covered)."""
    wanted = max(factor * occlusion_cost(n_tokens, n_free, params) - 1, 1)
    stride = max(params.get("stride", 1), math.ceil(n_tokens / wanted))
    stride = min(stride, WINDOW_MAX)
    return {**params, "stride": stride, "window": max(params.get("window", 3), stride)}


GROUP_MAX = WINDOW_MAX = 32

FEATURE_ABLATION = Method(
    name="feature_ablation", label="Feature Ablation", fn=feature_ablation,
    cost=feature_ablation_cost, shrink=feature_ablation_shrink, needs_grad=False,
    params=(Param("group", 1, 1, GROUP_MAX, 1, "Adjacent tokens removed together (1 = one "
                  "token at a time); each token shows its share of its group's drop. Larger "
                  "groups cost fewer forwards on long texts."),),
    description="Replace one token at a time by the baseline and record how much the target "
                "drops: f(input) - f(input without the token). One forward per token.")
OCCLUSION = Method(
    name="occlusion", label="Occlusion", fn=occlusion,
    cost=occlusion_cost, shrink=occlusion_shrink, needs_grad=False,
    params=(Param("window", 3, 1, WINDOW_MAX, 1, "Tokens replaced together; each token gets "
                  "the mean drop of the windows that cover it."),
            Param("stride", 1, 1, WINDOW_MAX, 1, "Tokens the window moves at each step (at most "
                  "the window). Larger strides cost fewer forwards on long texts.")),
    description="Slide a window of tokens over the text, replace it by the baseline, and give "
                "each token the mean drop of the windows covering it: catches effects that "
                "need neighbouring tokens together.")
