"""Text attributions: which tokens and words push a target up or down, with the numbers
that say whether to trust the map.

    attr = mi.attribute_text("minilm", "The cat sat on the mat.",
                             method="integrated_gradients", compare_to="A kitten on a rug.")
    attr.scores, attr.word_scores, attr.faithfulness.completeness_relative, attr.other.scores
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

from ..explain.attribution import (BASELINES, METHODS, Curves, Problem, SimilarityTarget, Target,
                                   align_words, build_problem, faithfulness, make_target,
                                   random_curves, word_scores)
from ..types import AttributionComparison, InputError, TokenAttribution
from .adapters import as_text_adapter

Progress = Callable[[float, str], None]


def _no_progress(fraction: float, desc: str) -> None:
    pass


def _method(name: str):
    if name not in METHODS:
        raise InputError(f"Unknown method {name!r}; choose one of: {', '.join(METHODS)}.")
    return METHODS[name]


def _explain(adapter, text: str, problem: Problem, enc, method_name: str, params: dict,
             target: Target, baseline: str, with_faithfulness: bool,
             reference: Curves | None) -> TokenAttribution:
    """Run one method on a built problem and package the result."""
    method = _method(method_name)
    resolved = method.resolve(params)
    start = time.perf_counter()
    out = method.fn(problem, **resolved)
    seconds = time.perf_counter() - start
    scores = out.scores.float().cpu().numpy()                          # [token]
    faith = (faithfulness(problem, scores, reference, complete=method.complete)
             if with_faithfulness else None)
    words, word_offsets, token_word = align_words(text, enc.offsets, enc.special)
    notes = list(out.notes)
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


def _side(adapter, text: str, target: Target, baseline: str, memory_mb: float):
    """Encode one text, complete the target for it (bind) and build its problem."""
    enc = adapter.encode(text)
    bound = target.bind(adapter, enc)
    return enc, bound, build_problem(adapter, enc, bound, baseline, memory_mb)


def _check_common(baseline: str, memory_mb: float) -> None:
    if baseline not in BASELINES:
        raise InputError(f"Unknown baseline {baseline!r}; choose one of: {', '.join(BASELINES)}.")
    if not 16 <= float(memory_mb) <= 1_000_000:
        raise InputError(f"memory_mb must be between 16 and 1,000,000, got {memory_mb}.")


def attribute_text(model, text: str, method: str = "integrated_gradients", target=None, *,
                   compare_to: str | None = None, labels=None, label: str | None = None,
                   temperature: float = 0.05, baseline: str = "pad", faithfulness: bool = True,
                   both_sides: bool = True, memory_mb: float = 1024, token: str | None = None,
                   mask: int = 0, output: str | None = None,
                   progress: Progress | None = None, **params) -> TokenAttribution:
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
    (in `.other`). memory_mb: activation budget that sets how many steps run in one batch.
    """
    progress = progress or _no_progress
    adapter = as_text_adapter(model)
    _check_common(baseline, memory_mb)
    _method(method).resolve(params)                 # fail on bad parameters before any work
    target = make_target(target, compare_to, labels, label, temperature, kind=adapter.kind,
                         token=token, mask=mask, output=output)
    target.check(adapter)
    progress(0.05, "Encoding")
    prepared = target.prepare(adapter)
    enc, bound, problem = _side(adapter, text, prepared, baseline, memory_mb)
    progress(0.15, f"Running {_method(method).label}")
    result = _explain(adapter, text, problem, enc, method, params, bound, baseline,
                      faithfulness, None)
    if both_sides and isinstance(prepared, SimilarityTarget):
        progress(0.55, "Attributing the second text")
        other_target = SimilarityTarget(text).prepare(adapter)
        other_enc, _, other_problem = _side(adapter, prepared.compare_to, other_target, baseline,
                                            memory_mb)
        other = _explain(adapter, prepared.compare_to, other_problem, other_enc, method, params,
                         other_target, baseline, faithfulness, None)
        result = replace(result, other=other)
    progress(1.0, "Done")
    return result


def compare_attributions(model, text: str, methods=None, target=None, *,
                         compare_to: str | None = None, labels=None, label: str | None = None,
                         temperature: float = 0.05, baseline: str = "pad",
                         memory_mb: float = 1024, params: dict | None = None,
                         token: str | None = None, mask: int = 0, output: str | None = None,
                         progress: Progress | None = None) -> AttributionComparison:
    """Every method (or `methods`) on one input with its faithfulness numbers and time taken.

    The input, baseline and random-order reference curves are built once and shared, so the
    methods are compared on exactly the same problem. params: {method: {name: value}}.
    """
    progress = progress or _no_progress
    adapter = as_text_adapter(model)
    _check_common(baseline, memory_mb)
    names = list(methods) if methods else list(METHODS)
    params = params or {}
    for name in names:
        _method(name).resolve(params.get(name, {}))
    start = time.perf_counter()
    target = make_target(target, compare_to, labels, label, temperature, kind=adapter.kind,
                         token=token, mask=mask, output=output)
    target.check(adapter)
    prepared = target.prepare(adapter)
    enc, bound, problem = _side(adapter, text, prepared, baseline, memory_mb)
    reference = random_curves(problem)
    results = []
    for i, name in enumerate(names):
        progress(0.05 + 0.9 * i / len(names), f"Running {_method(name).label}")
        results.append(_explain(adapter, text, problem, enc, name, params.get(name, {}), bound,
                                baseline, True, reference))
    progress(1.0, "Done")
    return AttributionComparison(results=results, seconds=time.perf_counter() - start)


def attribute_generation(model, text: str, n_tokens: int = 4,
                         method: str = "integrated_gradients", *, baseline: str = "pad",
                         faithfulness: bool = False, progress: Progress | None = None,
                         **params) -> list[TokenAttribution]:
    """For a decoder: generate `n_tokens` greedily, then explain each generated token in turn
    (its log-probability given the text so far), one `TokenAttribution` per token."""
    from .predictions import _continue_ids    # the same greedy decoding the Text tab shows
    progress = progress or _no_progress
    adapter = as_text_adapter(model)
    if adapter.kind != "causal_lm":
        raise InputError(f"{adapter.name} is a {adapter.kind} model; attributing generated "
                         "tokens needs a causal language model (GPT-2 family).")
    if not 1 <= int(n_tokens) <= 32:
        raise InputError(f"n_tokens must be between 1 and 32, got {n_tokens}.")
    ids = _continue_ids(adapter, adapter.encode(text), int(n_tokens))
    pieces = adapter.tokenizer.convert_ids_to_tokens(ids)
    out, prefix = [], text
    for i, (tid, piece) in enumerate(zip(ids, pieces)):
        progress(i / len(ids), f"Explaining generated token {i + 1} of {len(ids)}")
        out.append(attribute_text(adapter, prefix, method, target="next_token", token=piece,
                                  baseline=baseline, faithfulness=faithfulness, **params))
        prefix = adapter.tokenizer.decode(
            adapter.tokenizer(text)["input_ids"] + ids[: i + 1], skip_special_tokens=True)
    progress(1.0, "Done")
    return out


def list_attribution_methods() -> list[dict]:
    """[{name, label, description, complete, params: [{name, default, low, high, step, help}]}]."""
    return [{"name": m.name, "label": m.label, "description": m.description, "complete": m.complete,
             "params": [vars(p) for p in m.params]} for m in METHODS.values()]

