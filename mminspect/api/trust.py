"""Can I trust this map? Sanity checks and method agreement (the caveats are in
api/caveats.py, the shipped sanity table in api/trust_shipped.py).

    check = mi.sanity_check("minilm", "The cat sat on the mat.", method="saliency",
                            compare_to="A kitten on a rug.")
    check.spearman, check.passed                       # one value per randomisation step
    check = mi.sanity_check("miniclip", image=img, prompt="a red circle", method="relevance")
    agree = mi.method_agreement(mi.compare_attributions("minilm", text, compare_to=other))

The sanity check re-initialises the model's blocks from the top down on a deep copy (the
cached model is never touched; explain/sanity/randomize.py says how), recomputes the map
after each block, and compares it with the trained model's map. The data-randomisation
variant explains a random target (another label, prompt or second text) with the trained
model: a map that does not move either is not about the target.
"""
from __future__ import annotations

import math
import time

import numpy as np

from .limits import budget_left, check_copy_mb, check_methods, limits, request_budget
from ..explain.sanity import (PASS_BELOW, SAME_MAP_ABOVE, agreement_matrix, cascade, copy_bytes,
                              correlations, half_step, model_copy, null_sd, rank_correlation,
                              target_ignored, tower_blocks)
from ..types import (AttributionComparison, Cancelled, InputError, MethodAgreement, OverBudget,
                     PixelAttribution, Progress, SanityCheck, StopCheck, TokenAttribution)

# Targets for the data-randomisation variant: unrelated to any example, fixed, drawn by seed.
RANDOM_TEXTS = ("Interest rates rose again in March.", "She plays the violin every evening.",
                "The train to Lyon leaves at noon.", "Volcanoes form where plates collide.",
                "Add two cups of flour and stir.", "The committee postponed the vote.")
RANDOM_PROMPTS = ("a photo of a bicycle", "a green triangle", "a bowl of soup",
                  "a blue square", "a city at night", "a yellow star")


def _pick(pool, avoid, seed: int) -> str | None:
    choices = [p for p in pool if p not in set(avoid)]
    return None if not choices else choices[int(np.random.default_rng(seed).integers(len(choices)))]


def _text_features(attr: TokenAttribution) -> np.ndarray:
    return attr.scores[~attr.special]                                   # [token] without specials


def _image_features(attr: PixelAttribution) -> np.ndarray:
    return attr.patch_scores.reshape(-1)                                # [patch]


class _Steps:
    """Progress and cancellation between the maps of one check."""

    def __init__(self, total: int, progress: Progress | None, should_stop: StopCheck | None):
        self.total, self.progress, self.should_stop = total, progress, should_stop
        self.done = 0

    def next(self, desc: str) -> None:
        if self.should_stop is not None and self.should_stop():
            raise Cancelled("Stopped on request; no result was produced.")
        budget_left(math.inf)            # the check's (or request's) budget spent: stop here
        if self.progress is not None:
            self.progress(0.02 + 0.96 * self.done / self.total, desc)
        self.done += 1

    def plan(self, first_s: float, what: str) -> None:
        """After the first map (which took `first_s`): the maps still to come cost about as
        much each; refuse before them if that does not fit what is left of the budget."""
        left = self.total - self.done
        estimate = first_s * left
        # math.inf: only the check's own deadline (request_budget) limits the maps to come;
        # budget_left() would cap them at the host's default even for budget_s=inf
        room = budget_left(math.inf)
        if estimate > room:
            raise OverBudget(f"Not run: the sanity check of {what} recomputes the map "
                             f"{self.total} times; the first took {first_s:.1f} s, so the rest "
                             f"would take about {estimate:.0f} s, and {room:.0f} s of the time "
                             "budget are left. Check a faster method (Saliency, Input × "
                             "Gradient) or a shorter input.")


def _data_target_text(adapter, text, compare_to, labels, label, seed) -> tuple[dict, str] | None:
    """kwargs for a random target of the same kind, and its description; None if none applies."""
    if compare_to:
        other = _pick(RANDOM_TEXTS, (text, compare_to), seed)
        return {"compare_to": other}, f"similarity to {other!r}"
    if labels:
        names = [x.strip() for x in (labels.split(",") if isinstance(labels, str) else labels)]
        chosen = label or names[0]
        other = _pick(names, (chosen,), seed)
        return (None if other is None else ({"labels": labels, "label": other},
                                            f"zero-shot label {other!r}"))
    if getattr(adapter, "kind", "") == "classifier":
        chosen = label
        other = _pick(adapter.label_names(), (chosen,) if chosen else (), seed)
        return None if other is None else ({"label": other}, f"class {other!r}")
    return None


def _finish(method, model_name, modality, target, maps, counts, n_blocks, threshold, seed,
            t0, data, notes) -> SanityCheck:
    signed, absolute = correlations(maps)
    half = half_step(n_blocks)
    d_target, d_signed, d_abs = data or (None, None, None)
    n_feat = int(len(maps[0]))
    if null_sd(n_feat) > 0.3:
        notes.append(f"Only {n_feat} features are compared: a correlation between unrelated "
                     f"rankings spreads by ±{null_sd(n_feat):.2f}; read the shipped table "
                     "(several inputs) before concluding.")
    steps = ["trained"] + [f"top {k} of {n_blocks} blocks random" for k in counts[1:]]
    score = float(np.maximum(signed, absolute)[half:].mean())     # as SanityCheck.score
    data_score = None if d_signed is None else max(d_signed, d_abs)
    return SanityCheck(method=method, model_name=model_name, modality=modality, target=target,
                       steps=steps, n_random=counts, maps=np.stack(maps), spearman=signed,
                       spearman_abs=absolute, half=half, threshold=float(threshold),
                       passed=bool(score < threshold), seed=int(seed),
                       seconds=time.perf_counter() - t0, data_target=d_target,
                       data_spearman=d_signed, data_spearman_abs=d_abs, notes=notes,
                       data_threshold=SAME_MAP_ABOVE, target_ignored=target_ignored(data_score))


def _data_corr(first: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    return rank_correlation(first, other), rank_correlation(np.abs(first), np.abs(other))


def _sanity_text(model, text, method, target, seed, data, threshold, steps_cb, progress,
                 should_stop, budget_s, kwargs, params) -> SanityCheck:
    from .adapters import as_text_adapter
    from .attribution import attribute_text
    adapter = as_text_adapter(model)
    check_copy_mb(copy_bytes(adapter), limits(), adapter.name)       # before any model work
    t0 = time.perf_counter()

    def run(m, **extra):          # each map takes what is left of the check's one budget
        return attribute_text(m, text, method=method, target=target, faithfulness=False,
                              both_sides=False, should_stop=should_stop,
                              **{**kwargs, **extra}, **params)

    blocks_n = len(tower_blocks(adapter, "text"))
    steps = _Steps(blocks_n + 1 + int(data), progress, should_stop)
    steps.next("The trained model's map")
    start = time.perf_counter()
    first = run(adapter)                         # on the cached model: read-only, checks inputs
    steps.plan(time.perf_counter() - start, method)
    clone = model_copy(adapter)
    maps, counts = cascade(tower_blocks(clone, "text"), lambda: _text_features(run(clone)), seed,
                           lambda k, n: steps.next(f"Top {k} of {n} blocks random"))
    del clone
    out_data = None
    if data:
        pick = _data_target_text(adapter, text, kwargs.get("compare_to"), kwargs.get("labels"),
                                 kwargs.get("label"), seed)
        steps.next("A random target on the trained model")
        if pick is not None:
            extra, desc = pick
            other = run(adapter, **extra)
            out_data = (desc, *_data_corr(_text_features(first), _text_features(other)))
    return _finish(method, adapter.name, "text", first.target, [_text_features(first), *maps],
                   [0, *counts], blocks_n, threshold, seed, t0, out_data, list(first.notes))


def _sanity_image(model, image, prompt, method, contrast, seed, data, threshold, progress,
                  should_stop, params) -> SanityCheck:
    from .clip import as_clip, attribute_image
    from .images import read_image
    adapter = as_clip(model)
    check_copy_mb(copy_bytes(adapter), limits(), adapter.name)       # before any model work
    t0 = time.perf_counter()
    im = read_image(image, "the image", [])

    def run(m, p=prompt):
        return attribute_image(m, im, p, method=method, contrast=contrast, **params)

    blocks_n = len(tower_blocks(adapter, "image"))
    steps = _Steps(blocks_n + 1 + int(data), progress, should_stop)
    steps.next("The trained model's map")
    start = time.perf_counter()
    first = run(adapter)
    steps.plan(time.perf_counter() - start, method)
    # mini-CLIP's text tower is another adapter (the cached MiniLM): shared, not copied; the
    # image check randomises the image tower only.
    clone = model_copy(adapter)
    maps, counts = cascade(tower_blocks(clone, "image"), lambda: _image_features(run(clone)),
                           seed, lambda k, n: steps.next(f"Top {k} of {n} image blocks random"))
    del clone
    out_data = None
    if data:
        steps.next("A random prompt on the trained model")
        other_prompt = _pick(RANDOM_PROMPTS, (prompt, contrast), seed)
        other = run(adapter, other_prompt)
        out_data = (f"prompt {other_prompt!r}",
                    *_data_corr(_image_features(first), _image_features(other)))
    return _finish(method, adapter.name, "image", first.target, [_image_features(first), *maps],
                   [0, *counts], blocks_n, threshold, seed, t0, out_data, list(first.notes))


def sanity_check(model, text: str | None = None, method: str | None = None, target=None, *,
                 image=None, prompt: str | None = None, contrast: str | None = None,
                 seed: int = 0, data: bool = True, threshold: float = PASS_BELOW,
                 progress: Progress | None = None, should_stop: StopCheck | None = None,
                 budget_s: float | None = None, params: dict | None = None,
                 **target_kwargs) -> SanityCheck:
    """Cascading model randomisation for one method on one input (Adebayo et al. 2018).

    Text: `sanity_check(model, text, method=..., compare_to= / labels=, label= / target=)`
    as in `attribute_text` (default method integrated_gradients). Image: `sanity_check(model,
    image=..., prompt=..., method=...)` as in `attribute_image` (default relevance).
    The model's blocks are re-initialised top-down on a copy (the model you pass is never
    changed); `spearman[k]` is the rank correlation of the map with the top k blocks random
    against the trained map. `passed`: it falls below `threshold` once the top half is random.
    data: also explain a random target (another second text / label / prompt, drawn by
    `seed`) on the trained model. budget_s (default MMINSPECT_BUDGET_S): one budget for the
    whole check (every map), estimated after the first map and refused if the rest would not
    fit (OverBudget); never past an enclosing request's budget. seed: the random blocks and the random target; the same
    seed gives the same result. params: the method's parameters. progress(fraction, desc)
    and should_stop() as in attribute_text (a stop raises Cancelled between maps)."""
    params = dict(params or {})
    if image is not None:
        if text is not None or target_kwargs or target is not None:
            raise InputError("An image sanity check takes image=, prompt= (and contrast=); "
                             "text targets belong to the text form.")
        if prompt is None:
            raise InputError("Give the prompt the image map explains: prompt='a photo of a cat'.")
        with request_budget(budget_s):         # one budget for every map of the check
            return _sanity_image(model, image, prompt, method or "relevance", contrast, seed,
                                 data, threshold, progress, should_stop, params)
    if text is None:
        raise InputError("Give a text to explain (or image= and prompt= for an image model).")
    allowed = {"compare_to", "labels", "label", "temperature", "baseline", "token", "mask",
               "output", "memory_mb"}
    unknown = set(target_kwargs) - allowed
    if unknown:
        raise InputError(f"Unknown arguments {sorted(unknown)}; the target takes "
                         f"{', '.join(sorted(allowed))}, the method's parameters go in params=.")
    with request_budget(budget_s):             # one budget for every map of the check
        return _sanity_text(model, text, method or "integrated_gradients", target, seed, data,
                            threshold, None, progress, should_stop, None, target_kwargs, params)


def sanity_checks(model, methods, *, progress: Progress | None = None,
                  should_stop: StopCheck | None = None, budget_s: float | None = None,
                  **inputs) -> list[SanityCheck]:
    """`sanity_check` of each of `methods` (de-duplicated, at most MMINSPECT_MAX_METHODS) on
    the same inputs (text= and its target, or image= and prompt=), under ONE time budget
    for all of them; progress spread over the methods."""
    from ..explain.attribution import METHODS
    from .clip import list_image_methods
    known = ([m["name"] for m in list_image_methods()] if inputs.get("image") is not None
             else list(METHODS))
    names = check_methods(methods, known, limits())
    out = []
    with request_budget(budget_s):
        for i, m in enumerate(names):
            def step(f, desc, i=i, m=m):
                if progress is not None:
                    progress((i + f) / len(names), f"{m}: {desc}")
            out.append(sanity_check(model, method=m, progress=step, should_stop=should_stop,
                                    **inputs))
    return out


def method_agreement(results) -> MethodAgreement:
    """Rank correlations between the maps of several methods on one input: an
    AttributionComparison (text, tokens without the special ones) or a list of
    PixelAttribution (image patches) / TokenAttribution of the same input."""
    items = results.results if isinstance(results, AttributionComparison) else list(results)
    if not items:
        raise InputError("No maps to compare: run at least one method.")
    feats = [_image_features(r) if isinstance(r, PixelAttribution) else _text_features(r)
             for r in items]
    if len({f.shape for f in feats}) != 1:
        raise InputError("The maps do not cover the same input (different numbers of "
                         "tokens or patches); compare maps of one input.")
    signed, absolute = agreement_matrix(np.stack(feats))
    return MethodAgreement(methods=[r.method for r in items], matrix=signed,
                           matrix_abs=absolute, n_features=int(feats[0].size))
