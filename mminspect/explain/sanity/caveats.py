"""Plain caveats next to a map, computed from its own numbers (never hard-coded per method).

Each rule reads a result's measured values and returns a `Caveat` (what, why, what instead)
or nothing. The thresholds, and why:

- COMPLETENESS_MAX = 5 %: IG, GradientSHAP and KernelSHAP promise that the scores add up to
  f(input) - f(baseline). Past 5 % of that gap the sum is visibly off (a 5 % error on a bar
  of 20 words moves the total by more than a typical word's share), so the map is an
  approximation worth saying so about.
- Deletion area < 0: taking words away in the map's order lowers the score less than taking
  them away in a random order, i.e. the ranking is worse than chance on this input -- unless
  the map's *top* features (the curve's points up to EARLY_FRACTION = 12 % of them, at least
  the first point) do lower the score faster than random. Then the negative area comes from
  the curve's tail: the model's response to the baseline filling most of the input (on
  mini-CLIP a plain mid-grey image scores 12.7 for "a green star", the scene itself 13.8),
  and random orders passing through mosaics that score below both ends. That is said as its
  own caveat ("deletion_tail"), not as "worse than random". 12 %: the top tenth or so of the
  features, where maps differ (on 64 patches the curve's first two points, 2 and 7 patches,
  about one object of a mini-CLIP scene).
- SMALL_GAP: a relative error divides by |f(input) - f(baseline)|. When that gap is below
  SMALL_GAP_ABS (1e-3 in target units) or below SMALL_GAP_REL (1 %) of |f(input)|, the
  division blows rounding noise up (the float32 forward alone is good to ~1e-6 relative,
  and IG's own step error is ~1e-3 of the gap at best): a "12 % completeness error" then means
  nothing, and the map explains a difference that is not there.
- Sanity: a shipped table or a run of the sanity check on this model says the method's map
  survives once half the model is random (see sanity/__init__.py for its threshold).
- Ignores the target: the same check's random target (an unrelated prompt, label or second
  text) gives nearly the same map (rho >= SAME_MAP_ABOVE, see sanity/__init__.py).
"""
from __future__ import annotations

import numpy as np

from ...types import Caveat

COMPLETENESS_MAX = 0.05
SMALL_GAP_ABS = 1e-3
SMALL_GAP_REL = 0.01
EARLY_FRACTION = 0.12
SINGULAR = {"words": "word", "patches": "patch", "tokens": "token"}


def small_gap(f_input: float, f_baseline: float) -> bool:
    gap = abs(f_input - f_baseline)
    return gap < SMALL_GAP_ABS or gap < SMALL_GAP_REL * abs(f_input)


def gap_caveat(f_input: float, f_baseline: float) -> Caveat | None:
    if not small_gap(f_input, f_baseline):
        return None
    gap = f_input - f_baseline
    return Caveat(
        "small_gap", f"f(input) − f(baseline) is only {gap:+.2g}",
        "The map explains this difference, and a relative error divided by it is noise.",
        "Pick another baseline (e.g. [MASK] instead of [PAD]) or another target, so the input "
        "and the baseline score differently.", value=float(gap))


def completeness_caveat(relative: float | None, f_input: float, f_baseline: float) -> Caveat | None:
    if relative is None or small_gap(f_input, f_baseline) or relative <= COMPLETENESS_MAX:
        return None
    return Caveat(
        "completeness", f"The scores miss the total by {relative:.0%}",
        f"They should add up to f(input) − f(baseline); past {COMPLETENESS_MAX:.0%} the map "
        "is a rough approximation.",
        "For IG, lower its tolerance (more steps); for GradientSHAP / KernelSHAP, raise the "
        "number of samples; or read the ranking, not the sizes.", value=float(relative))


def early_deletion_gain(fractions, deletion, deletion_random) -> float | None:
    """Mean of (random order's score - the map order's score) over the deletion curve's first
    points (0 < fraction <= EARLY_FRACTION, at least the first inner point): > 0 when removing
    the map's top features lowers the score faster than random. None without inner points."""
    f = np.asarray(fractions, dtype=np.float64)                         # [step]
    inner = np.flatnonzero((f > 0) & (f < 1))
    if not len(inner):
        return None
    early = inner[f[inner] <= EARLY_FRACTION]
    early = early if len(early) else inner[:1]
    gap = np.asarray(deletion_random, np.float64) - np.asarray(deletion, np.float64)  # [step]
    return float(gap[early].mean())


def deletion_caveat(deletion_area: float | None, unit: str = "words",
                    compare: str = "Compare all methods", faith=None) -> Caveat | None:
    """unit: what the curve removes ("words", "patches"); compare: the app's name for the
    all-methods comparison where the user can pick another method. faith: the Faithfulness
    whose curves tell a bad ranking from a tail effect (None: the area alone decides)."""
    if deletion_area is None or not deletion_area < 0:
        return None
    early = (None if faith is None else
             early_deletion_gain(faith.fractions, faith.deletion, faith.deletion_random))
    if early is not None and early > 0:
        f_in, f_out = float(faith.deletion[0]), float(faith.deletion[-1])
        return Caveat(
            "deletion_tail", f"Negative deletion area ({deletion_area:+.3f}) from the curve's tail",
            f"Removing this map's top {unit} lowers the score faster than a random order (by "
            f"{early:.2f} on average over its first points), as a faithful map should; the "
            f"rest of the curve climbs back towards the score with every {SINGULAR.get(unit, unit)} removed "
            f"({f_out:.2f}; the input: {f_in:.2f}), so the area measures how the model reads "
            "the baseline filling the input, not this ranking.",
            "Read the first points of the deletion curve rather than its area, and compare "
            f"with other methods ({compare}).", value=float(deletion_area))
    return Caveat(
        "deletion", f"Worse than a random order (deletion area {deletion_area:+.3f})",
        f"Removing {unit} in this map's order lowers the score less than removing them at "
        "random, so its ranking does not match what the model uses here.",
        f"{compare} and prefer one with a positive deletion area on this input.",
        value=float(deletion_area))


def sanity_caveat(method_label: str, model_name: str, score: float | None,
                  threshold: float, source: str) -> Caveat | None:
    """score: the sanity check's mean correlation once half the model is random (None: unknown)."""
    if score is None or score < threshold:
        return None
    return Caveat(
        "sanity", f"{method_label} failed the sanity check on {model_name}",
        f"With the top half of the model (or more) re-initialised its map still ranks like this one "
        f"(Spearman {score:.2f} ≥ {threshold:g}, {source}): part of it shows the input and "
        "the baseline, not what the trained model learned.",
        "Prefer a method that passes (see “Can I trust this map?”), and read this map as a "
        "rough guide only.", value=float(score))


def target_caveat(method_label: str, data_score: float | None, threshold: float, source: str,
                  modality: str = "text") -> Caveat | None:
    """data_score: the rank correlation of this method's map for a random target with its map
    for the user's target (None: no random target was explained)."""
    if data_score is None or data_score < threshold:
        return None
    what = "prompt" if modality == "image" else "target"
    instead = ("Relevance reads the prompt (it passes on mini-CLIP); or use “A rather than B”, "
               "which cancels what both prompts' maps share." if modality == "image" else
               "Prefer a method whose map follows the target (Integrated Gradients, Occlusion, "
               "KernelSHAP on MiniLM), or compare two targets.")
    return Caveat(
        "ignores_target", f"{method_label} hardly changes with a random {what}",
        f"Explaining an unrelated {what} with the same model gives almost the same map "
        f"(Spearman {data_score:.2f} ≥ {threshold:g}, {source}): it shows what the model reads "
        f"in this input in general, not what your {what} picked out.",
        instead, value=float(data_score))
