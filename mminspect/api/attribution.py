"""Text attributions: which tokens and words push a target up or down, with the numbers
that say whether to trust the map.

    attr = mi.attribute_text("minilm", "The cat sat on the mat.",
                             method="integrated_gradients", compare_to="A kitten on a rug.")
    attr.scores, attr.word_scores, attr.faithfulness.completeness_relative, attr.other.scores
"""
from __future__ import annotations

import time
from dataclasses import replace

from ..explain.attribution import (BASELINES, MAX_POINTS, METHODS, N_RANDOM, Curves, Guard,
                                   Job, Problem, SimilarityTarget, Target, ZeroShotTarget,
                                   align_words, build_problem, faithfulness, item_bytes,
                                   keep_pace, make_target, plan_budget, random_curves,
                                   word_scores)
from ..explain.attribution.budget import BoundedGuard
from ..explain.attribution.precision import (check_precision, in_precision, precision_note,
                                             resolve_precision)
from ..types import AttributionComparison, InputError, Progress, StopCheck, TokenAttribution
from .adapters import as_text_adapter
from .languages import script_notes
from .limits import (Limits, budget_in_force, check_labels, check_memory_mb, check_methods,
                     check_text, limits)


def _method(name: str):
    if name not in METHODS:
        raise InputError(f"Unknown method {name!r}; choose one of: {', '.join(METHODS)}.")
    return METHODS[name]


def _explain(adapter, text: str, problem: Problem, enc, method_name: str, resolved: dict,
             target: Target, baseline: str, with_faithfulness: bool,
             reference: Curves | None, notes: list[str] = (),
             curve_points: int = MAX_POINTS, curves_on: Problem | None = None) -> TokenAttribution:
    """Run one method with its (planned) parameters on a built problem and package the
    result; its deletion / insertion curves run on `curves_on` (default: the same problem)."""
    method = _method(method_name)
    start = time.perf_counter()
    out = method.fn(problem, **resolved)
    seconds = time.perf_counter() - start
    scores = out.scores.float().cpu().numpy()                          # [token]
    faith = (faithfulness(curves_on or problem, scores, reference, complete=method.complete,
                          max_points=curve_points) if with_faithfulness else None)
    words, word_offsets, token_word = align_words(text, enc.offsets, enc.special)
    notes = [*script_notes(adapter, text, enc), *notes, *out.notes]
    if enc.n_dropped:
        notes.append(f"The text was cut to {adapter.max_tokens} tokens: the last "
                     f"{enc.n_dropped} tokens are not attributed.")
    return TokenAttribution(
        text=text, tokens=list(enc.tokens), scores=scores, offsets=enc.offsets, special=enc.special,
        words=words, word_scores=word_scores(scores, token_word, len(words)),
        word_offsets=word_offsets, token_word=token_word, method=method.name,
        target=target.describe(), target_value=problem.f_input, baseline=baseline,
        baseline_value=problem.f_baseline, seconds=seconds, model_name=adapter.name,
        params=resolved, n_steps=out.n_steps, faithfulness=faith, notes=notes)


def metered(problem: Problem) -> Problem:
    """`problem` whose forward tells its guard how many items the coming batch has, so the
    guard can stop before a batch that would end past the budget (BoundedGuard). Measured
    on 2 busy cores: one batch of 32 items of 60 tokens took 2.6 s."""
    guard, inner = problem.guard, problem.forward
    if guard is None or not hasattr(guard, "next_items"):
        return problem

    def forward(embeds):                                    # [batch, token, d] -> [batch]
        guard.next_items = int(embeds.shape[0])
        return inner(embeds)

    return replace(problem, forward=forward)


def _side(adapter, text: str, target: Target, baseline: str, memory_mb: float, guard: Guard):
    """Encode one text, complete the target for it (bind) and build its problem."""
    enc = adapter.encode(text)
    bound = target.bind(adapter, enc)
    return enc, bound, metered(build_problem(adapter, enc, bound, baseline, memory_mb, guard))


def _check_inputs(text, compare_to, labels, target, baseline: str, memory_mb,
                  lim: Limits) -> tuple[list[str], float]:
    """Every limit that needs no model: (cleaned labels, memory_mb)."""
    if baseline not in BASELINES:
        raise InputError(f"Unknown baseline {baseline!r}; choose one of: {', '.join(BASELINES)}.")
    check_text(text, lim)
    check_text(compare_to, lim, "The second text")
    if isinstance(target, ZeroShotTarget):
        check_labels(target.labels, lim)
    return check_labels(labels, lim), check_memory_mb(memory_mb, lim)


def _check_memory(adapter, problem: Problem, methods, memory_mb: float) -> None:
    """A gradient method keeps one item's activations at least: refuse if that alone is over."""
    grad = [m.label for m in methods if m.needs_grad]
    cfg, n = adapter.sizes(), problem.n_tokens
    need = item_bytes(cfg, n) / 2 ** 20
    if grad and need > memory_mb:
        fit = max((k for k in range(1, n) if item_bytes(cfg, k) / 2 ** 20 <= memory_mb), default=1)
        raise InputError(f"At {n} tokens one gradient step of {adapter.name} needs about "
                         f"{need:,.0f} MB of activations; the limit is {memory_mb:g} MB. Shorten "
                         f"the text to about {fit} tokens, or choose a method without gradients "
                         "(Feature Ablation, Occlusion, LIME, KernelSHAP).")


def _guard(budget_s, lim: Limits, progress, should_stop) -> BoundedGuard:
    """The request's clock: its budget (or what is left of the request's, see
    limits.request_budget), stopping the work at that budget (BoundedGuard)."""
    left, total, spent = budget_in_force(budget_s, lim)
    return BoundedGuard(left, progress, should_stop, total_s=total, spent_s=spent)


def _attribute(adapter, text: str, method: str, params: dict, guard: Guard, lim: Limits,
               budget_s: float, *, target, compare_to, labels, label, temperature, baseline,
               with_faithfulness: bool, both_sides: bool, memory_mb, token, mask, output,
               precision: str | None = None) -> TokenAttribution:
    """attribute_text's work, within `budget_s` seconds from now on `guard`'s clock; the
    inputs' limits are checked (labels cleaned, memory_mb set)."""
    end = guard.elapsed() + budget_s
    m = _method(method)
    resolved = m.resolve(params)
    target = make_target(target, compare_to, labels, label, temperature, kind=adapter.kind,
                         token=token, mask=mask, output=output)
    target.check(adapter)
    guard.job("Encoding")
    prepared = target.prepare(adapter)
    sides = [(text, prepared)]
    if both_sides and isinstance(prepared, SimilarityTarget):
        sides.append((prepared.compare_to, SimilarityTarget(text).prepare(adapter)))
    built = [_side(adapter, t, tg, baseline, memory_mb, guard) for t, tg in sides]
    dtype = resolve_precision(precision or lim.precision, built[0][2].inputs.device)
    if m.needs_grad and not with_faithfulness:
        dtype = None                             # nothing forward-only to speed up
    jobs = []
    for _, _, problem in built:        # (each side's float32 problem)
        _check_memory(adapter, problem, [m], memory_mb)
        fast = in_precision(problem, dtype)
        # the map's curves and, unshared here, the random-order reference's
        jobs.append(Job(m, resolved, problem if m.needs_grad else fast,
                        (1 + N_RANDOM) if with_faithfulness else 0, curve_problem=fast))
    plan = plan_budget(jobs, end - guard.elapsed(), lim.over_budget, total_s=guard.total_s,
                       speed_key=(adapter.name,))
    guard.plan(plan.estimate_s)
    results = []
    for i, ((t, _), (enc, bound, _), job) in enumerate(zip(sides, built, jobs)):
        plan = keep_pace(plan, jobs, i, guard, lim.over_budget)
        guard.job(f"Running {m.label}" + (" on the second text" if i else ""),
                  until_s=end - plan.after(i))
        results.append(_explain(adapter, t, job.problem, enc, method, plan.params[i], bound,
                                baseline, with_faithfulness, None,
                                [*plan.notes[i], *precision_note(dtype, m.needs_grad)],
                                plan.curve_points, job.curves_on))
    return results[0] if len(results) == 1 else replace(results[0], other=results[1])


def attribute_text(model, text: str, method: str = "integrated_gradients", target=None, *,
                   compare_to: str | None = None, labels=None, label: str | None = None,
                   temperature: float = 0.05, baseline: str = "pad", faithfulness: bool = True,
                   both_sides: bool = True, memory_mb: float | None = None,
                   token: str | None = None, mask: int = 0, output: str | None = None,
                   progress: Progress | None = None, should_stop: StopCheck | None = None,
                   budget_s: float | None = None, precision: str | None = None,
                   **params) -> TokenAttribution:
    """Attribute a target to the tokens (and words) of `text` with one captum method.

    model: a loaded adapter or a registry name. method: a key of METHODS (see
    `list_attribution_methods()`); its parameters go in **params (e.g. tolerance=0.01 for IG).
    target: a Target object, "similarity" or "zero_shot" (sentence-embedding models), "class"
    (classifiers: `label`, default the predicted class), "mask_fill" (fill-mask: `token` at the
    `mask`-th [MASK], default the top filler) or "next_token" (decoders: `token`, default the
    top next token); `output` picks "logit", "prob" or "log_prob" for those. By default: the
    cosine similarity to `compare_to` if given, else the zero-shot log-odds of `label`
    (default: the first of `labels`) against the other labels, else the model's own
    prediction. baseline: "pad", "mask" or "zero" (special tokens
    kept). faithfulness: also compute deletion/insertion curves (about 20 extra forwards +
    ~80 shared). both_sides: for a similarity, also attribute `compare_to` against `text`
    (in `.other`). memory_mb: activation budget that sets how many steps run in one batch
    (default and maximum: the host's, see api/limits.py).

    Limits (api/limits.py) are checked before any model work. budget_s (default: the host's
    MMINSPECT_BUDGET_S): the request's cost is estimated up front; above the budget it runs
    with fewer samples / coarser perturbations (a note in `.notes` says so) or is refused
    with an OverBudget error that gives the estimate. progress(fraction, desc) is called
    between steps; it, or should_stop() returning True, stops the work within one batch:
    Cancelled is raised.

    precision: "auto", "float32" or "bfloat16" (default: the host's MMINSPECT_PRECISION,
    "auto"): the float type of the forward-only work (perturbation and surrogate methods,
    deletion / insertion curves); "auto" uses bfloat16 where the hardware multiplies it
    natively (AMX CPUs, recent GPUs), about 3x faster, and a note says so. Gradient methods,
    f(input) and f(baseline) are always float32.
    """
    lim = limits()
    guard = _guard(budget_s, lim, progress, should_stop)
    labels, memory_mb = _check_inputs(text, compare_to, labels, target, baseline, memory_mb, lim)
    _method(method).resolve(params)                 # fail on bad parameters before any work
    check_precision(precision or lim.precision)
    result = _attribute(as_text_adapter(model), text, method, params, guard, lim,
                        guard.budget_s, target=target, compare_to=compare_to, labels=labels,
                        label=label, temperature=temperature, baseline=baseline,
                        with_faithfulness=faithfulness, both_sides=both_sides,
                        memory_mb=memory_mb, token=token, mask=mask, output=output,
                        precision=precision or lim.precision)
    guard.progress(1.0, "Done")
    return result


def compare_attributions(model, text: str, methods=None, target=None, *,
                         compare_to: str | None = None, labels=None, label: str | None = None,
                         temperature: float = 0.05, baseline: str = "pad",
                         memory_mb: float | None = None, params: dict | None = None,
                         token: str | None = None, mask: int = 0, output: str | None = None,
                         progress: Progress | None = None, should_stop: StopCheck | None = None,
                         budget_s: float | None = None,
                         precision: str | None = None) -> AttributionComparison:
    """Every method (or `methods`) on one input with its faithfulness numbers and time taken.

    The input, baseline and random-order reference curves are built once and shared, so the
    methods are compared on exactly the same problem. params: {method: {name: value}}.
    The whole comparison shares one time budget (see attribute_text): above it, the
    methods that can run fewer samples or coarser perturbations do, together, each with a
    note; progress / should_stop / precision as in attribute_text (in reduced precision
    every map's curves, and the shared reference, run in it, so areas stay comparable).
    """
    lim = limits()
    guard = _guard(budget_s, lim, progress, should_stop)
    labels, memory_mb = _check_inputs(text, compare_to, labels, target, baseline, memory_mb, lim)
    names = check_methods(methods if methods else list(METHODS), list(METHODS), lim)
    params = params or {}
    resolved = {name: _method(name).resolve(params.get(name, {})) for name in names}
    check_precision(precision or lim.precision)
    adapter = as_text_adapter(model)
    start = time.perf_counter()
    target = make_target(target, compare_to, labels, label, temperature, kind=adapter.kind,
                         token=token, mask=mask, output=output)
    target.check(adapter)
    guard.job("Encoding")
    prepared = target.prepare(adapter)
    enc, bound, problem = _side(adapter, text, prepared, baseline, memory_mb, guard)
    _check_memory(adapter, problem, [METHODS[n] for n in names], memory_mb)
    dtype = resolve_precision(precision or lim.precision, problem.inputs.device)
    fast = in_precision(problem, dtype)
    jobs = [Job(METHODS[n], resolved[n], problem if METHODS[n].needs_grad else fast,
                curve_orders=1, curve_problem=fast) for n in names]
    plan = plan_budget(jobs, guard.budget_s - guard.elapsed(), lim.over_budget,
                       shared_orders=N_RANDOM, total_s=guard.total_s, speed_key=(adapter.name,))
    guard.plan(plan.estimate_s)             # (planning may have re-timed the jobs' problems)
    guard.job("Random-order reference curves", until_s=guard.budget_s - sum(plan.seconds))
    reference = random_curves(jobs[0].curves_on, max_points=plan.curve_points)
    results = []
    for i, name in enumerate(names):
        plan = keep_pace(plan, jobs, i, guard, lim.over_budget)   # slower than estimated?
        guard.job(f"Running {_method(name).label}", until_s=guard.budget_s - plan.after(i))
        notes = [*plan.notes[i], *precision_note(dtype, METHODS[name].needs_grad)]
        results.append(_explain(adapter, text, jobs[i].problem, enc, name, plan.params[i],
                                bound, baseline, True, reference, notes, plan.curve_points,
                                jobs[i].curves_on))
        guard.done.append(_method(name).label)        # named if the budget stops a later one
    guard.progress(1.0, "Done")
    return AttributionComparison(results=results, seconds=time.perf_counter() - start)


def attribute_generation(model, text: str, n_tokens: int = 4,
                         method: str = "integrated_gradients", *, baseline: str = "pad",
                         faithfulness: bool = False, progress: Progress | None = None,
                         should_stop: StopCheck | None = None, budget_s: float | None = None,
                         **params) -> list[TokenAttribution]:
    """For a decoder: generate `n_tokens` greedily, then explain each generated token in turn
    (its log-probability given the text so far), one `TokenAttribution` per token. One time
    budget for all of them, shared out as they run."""
    from .predictions import _continue_ids    # the same greedy decoding the Text tab shows
    lim = limits()
    guard = _guard(budget_s, lim, progress, should_stop)
    if not 1 <= int(n_tokens) <= lim.max_new_tokens:
        raise InputError(f"n_tokens must be between 1 and {lim.max_new_tokens}, got {n_tokens}.")
    _check_inputs(text, None, None, None, baseline, None, lim)
    _method(method).resolve(params)
    adapter = as_text_adapter(model)
    if adapter.kind != "causal_lm":
        raise InputError(f"{adapter.name} is a {adapter.kind} model; attributing generated "
                         "tokens needs a causal language model (GPT-2 family).")
    ids = _continue_ids(adapter, adapter.encode(text), int(n_tokens))
    pieces = adapter.pieces(ids)
    out, prefix = [], text
    for i, (tid, piece) in enumerate(zip(ids, pieces)):
        guard.span = (i / len(ids), (i + 1) / len(ids))
        share = (guard.budget_s - guard.elapsed()) / (len(ids) - i)
        out.append(_attribute(adapter, prefix, method, params, guard, lim, share,
                              target="next_token", compare_to=None, labels=None, label=None,
                              temperature=0.05, baseline=baseline,
                              with_faithfulness=faithfulness, both_sides=False,
                              memory_mb=lim.memory_mb,
                              token=piece, mask=0, output=None))
        prefix = adapter.decode(adapter.token_ids(text) + ids[: i + 1], skip_special_tokens=True)
    guard.progress(1.0, "Done")
    return out


def list_attribution_methods() -> list[dict]:
    """[{name, label, description, complete, params: [{name, default, low, high, step, help}]}]."""
    return [{"name": m.name, "label": m.label, "description": m.description, "complete": m.complete,
             "params": [vars(p) for p in m.params]} for m in METHODS.values()]

