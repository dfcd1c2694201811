"""Token attributions through captum, one method family per file, registered in METHODS.

    problem = build_problem(adapter, enc, target.prepare(adapter), baseline="pad")
    out = METHODS["integrated_gradients"].fn(problem, **METHODS[...].resolve(params))
"""
from .ablation import FEATURE_ABLATION, OCCLUSION
from .base import GRAD_UNITS, Method, MethodOutput, Param, Problem, completeness, resolve_params
from .budget import Job, Plan, keep_pace, plan_budget
from .faithfulness import MAX_POINTS, N_RANDOM, Curves, curve_units, faithfulness, random_curves
from .gradients import GRADIENT_SHAP, INPUT_X_GRADIENT, SALIENCY
from .integrated_gradients import METHOD as INTEGRATED_GRADIENTS
from .guard import Guard
from .problem import BASELINES, build_problem, item_bytes
from .surrogate import KERNEL_SHAP, LIME
from .target_choice import make_target
from .targets import SimilarityTarget, Target, ZeroShotTarget
from .task_targets import ClassTarget, MaskFillTarget, NextTokenTarget
from .words import align_words, word_scores

# name -> Method, in the order the UI lists them (fast gradient methods first).
METHODS: dict[str, Method] = {m.name: m for m in (
    INTEGRATED_GRADIENTS, SALIENCY, INPUT_X_GRADIENT, GRADIENT_SHAP,
    FEATURE_ABLATION, OCCLUSION, LIME, KERNEL_SHAP)}

__all__ = ["BASELINES", "GRAD_UNITS", "MAX_POINTS", "METHODS", "N_RANDOM", "ClassTarget",
           "Curves", "Guard", "Job", "MaskFillTarget", "Method", "MethodOutput",
           "NextTokenTarget", "Param", "Plan", "Problem", "SimilarityTarget", "Target",
           "ZeroShotTarget", "align_words", "build_problem", "completeness", "curve_units",
           "faithfulness", "item_bytes", "keep_pace", "make_target", "plan_budget",
           "random_curves", "resolve_params", "word_scores"]
