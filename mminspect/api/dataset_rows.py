"""A dataset batch's text rows explained together (api/dataset_batch.explain_batch calls
this when it can): the same numbers as the single-input API per row (the prediction,
compare_attributions with its faithfulness, head_importance), each step run for all the
rows at once in padded forward passes (api/dataset_padded.py).

What runs together: the prediction (one forward), f(input) and f(baseline) (one), each
Integrated Gradients try for the rows still above the tolerance (16 steps, then 24, ...:
every row keeps the steps it would get alone), the gradient at the input (Saliency,
Input x Gradient), every row's deletion / insertion and random-order curves (one call:
faithfulness() itself runs twice, once to record the items each row asks for and once to
read them back from the padded forward) and, per layer, the head scan.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from captum.attr._utils.approximation_methods import approximation_parameters

from ..capture.heads import edit_heads
from ..explain import cosine, softmax
from ..explain.attribution import (MAX_POINTS, METHODS, Problem, align_words, completeness,
                                   faithfulness, item_bytes, make_target, random_curves,
                                   word_scores)
from ..explain.attribution.integrated_gradients import GROWTH, steps_notes
from ..explain.attribution.precision import precision_note, resolve_precision
from ..explain.attribution.problem import baseline_embeddings, batch_for_memory
from ..models.hf_text import HFTextAdapter
from .causal_common import head_sites
from .dataset_padded import Padded, head_scan
from .languages import script_notes

TARGETS = ("zero_shot", "similarity", "class")
METHOD_NAMES = ("integrated_gradients", "saliency", "input_x_gradient")


def batchable(adapter, spec) -> bool:
    """Rows can run together: a Hugging Face text model (its forward takes a padded batch
    with an attention mask), a target read from the pooled embedding or the class logits,
    and only gradient methods (the perturbation methods stay one text at a time)."""
    return (isinstance(adapter, HFTextAdapter) and spec.target in TARGETS
            and set(spec.methods) <= set(METHOD_NAMES))


@dataclass
class _Row:
    row: dict
    enc: object
    bound: object = None           # the row's Target, bound (what Padded scores)
    problem: Problem | None = None
    prediction: str | None = None
    score: float = math.nan


class _Keep:
    """A stand-in target for the prediction's forward: keeps the row's outputs."""

    @staticmethod
    def score(adapter, outputs, mask):
        return outputs, mask


def fits(adapter, enc, memory_mb: float) -> bool:
    """One gradient step of this text fits the memory budget (else the single-input path
    refuses it with its own message)."""
    return item_bytes(adapter.sizes(), len(enc.tokens)) / 2 ** 20 <= memory_mb


def _predict(adapter, rows: list[_Row], spec, padded: Padded, label_emb) -> None:
    """Each row's prediction and target, from one forward of all the texts."""
    emb = adapter.input_embeddings()
    for r in rows:
        r.bound = _Keep()
    with torch.no_grad():
        kept = padded._forward([(r, emb(r.enc.inputs["input_ids"])) for r in rows])
    zero_shot = None
    if spec.target == "zero_shot":
        zero_shot = make_target("zero_shot", None, list(spec.labels), spec.labels[0],
                                spec.temperature, kind=adapter.kind).prepare(adapter)
    for r, (outputs, mask) in zip(rows, kept):
        if spec.target == "class":
            probs = torch.softmax(outputs.logits[0].float(), -1)
            best = int(torch.argmax(probs))
            r.prediction, r.score = adapter.label_names()[best], float(probs[best])
            tgt = make_target("class", None, None, r.prediction, kind=adapter.kind)
        elif spec.target == "zero_shot":
            vec = adapter.pool(outputs.last_hidden_state, mask).numpy()      # [1, d]
            probs = softmax(cosine(vec, label_emb)[0], spec.temperature)      # [label]
            best = int(np.argmax(probs))
            r.prediction, r.score = spec.labels[best], float(probs[best])
            tgt = replace(zero_shot, label=r.prediction)
        else:
            tgt = make_target("similarity", r.row["text2"], None, None,
                              kind=adapter.kind).prepare(adapter)
            vec = adapter.pool(outputs.last_hidden_state, mask).numpy()
            r.score = float(cosine(vec, tgt.reference[None].numpy())[0, 0])
        r.bound = tgt.prepare(adapter).bind(adapter, r.enc) if spec.target == "class" \
            else tgt.bind(adapter, r.enc)


def _problems(adapter, rows: list[_Row], spec, padded: Padded) -> None:
    """Each row's Problem: inputs, baselines and f of both from one forward of all rows
    (the pair that build_problem runs per text)."""
    emb = adapter.input_embeddings()
    pairs = []
    with torch.no_grad():
        for r in rows:
            x = emb(r.enc.inputs["input_ids"]).detach()                      # [1, T, d]
            pairs.append(torch.cat([x, baseline_embeddings(adapter, r.enc, x, spec.baseline)]))
    for r, pair, f in zip(rows, pairs, padded.scores([(r, p) for r, p in zip(rows, pairs)])):
        r.problem = Problem(forward=None, inputs=pair[:1], baselines=pair[1:],
                            special=torch.as_tensor(r.enc.special), f_input=float(f[0]),
                            f_baseline=float(f[1]), batch_size=batch_for_memory(
                                padded.sizes, pair.shape[1], padded.memory_mb))


def _ig(rows: list[_Row], padded: Padded, params: dict) -> list[tuple[torch.Tensor, list]]:
    """Integrated Gradients for every row, captum's Gauss-Legendre rule and arithmetic
    (explain/attribution/paths.py), tries grown x1.5 per row until its completeness error
    is within the tolerance, as explain/attribution/integrated_gradients.py does alone."""
    steps_fn, alphas_fn = approximation_parameters("gausslegendre")
    n = {i: min(params["start_steps"], params["max_steps"]) for i in range(len(rows))}
    total = dict.fromkeys(n, 0)
    done: dict[int, tuple] = {}
    while n:
        parts = []
        for i, k in n.items():
            p = rows[i].problem
            parts.append((rows[i], torch.cat([p.baselines + a * (p.inputs - p.baselines)
                                              for a in alphas_fn(k)])))   # [k, T, d]
        grads = padded.gradients(parts)
        for (i, k), g in zip(list(n.items()), grads):
            p = rows[i].problem
            w = torch.tensor(steps_fn(k)).float().view(k, 1)
            summed = (g.contiguous().view(k, -1) * w).reshape(k, *p.inputs.shape).sum(0)
            scores = (summed * (p.inputs - p.baselines))[0].sum(-1)         # [token]
            total[i] += k
            _, rel = completeness(float(scores.sum()), p)
            if rel <= params["tolerance"] or k >= params["max_steps"]:
                done[i] = (scores.detach(), steps_notes(
                    k, total[i], params["start_steps"], rel, params["tolerance"],
                    params["max_steps"]))
                del n[i]
            else:
                n[i] = min(int(round(k * GROWTH)), params["max_steps"])
    return [done[i] for i in range(len(rows))]


def _at_input(rows: list[_Row], padded: Padded, names) -> dict[str, list]:
    """Saliency (|gradient|, L2 norm per token) and Input x Gradient (summed per token),
    from one gradient at each row's input, as captum computes them."""
    if not names:
        return {}
    grads = padded.gradients([(r, r.problem.inputs) for r in rows])
    out = {}
    for name in names:
        fn = ((lambda g, p: g[0].abs().norm(dim=-1)) if name == "saliency"
              else (lambda g, p: (p.inputs * g)[0].sum(-1)))
        out[name] = [(fn(g, r.problem).detach(), []) for g, r in zip(grads, rows)]
    return out


def _faithfulness(rows: list[_Row], maps: dict[str, list], padded: Padded, dtype) -> list[dict]:
    """{method: Faithfulness} per row: faithfulness() runs once recording each row's curve
    items, then all of them run in padded calls, then once more reading them back."""
    asked: list[list] = [[] for _ in rows]

    def pass_(i: int, forward) -> dict:
        p = replace(rows[i].problem, forward=forward)
        reference = random_curves(p, max_points=MAX_POINTS)
        return {m: faithfulness(p, maps[m][i][0].float().cpu().numpy(), reference,
                                complete=METHODS[m].complete, max_points=MAX_POINTS)
                for m in maps}

    for i in range(len(rows)):
        pass_(i, lambda x, i=i: asked[i].append(x) or torch.zeros(x.shape[0]))
    flat = [(rows[i], x) for i in range(len(rows)) for x in asked[i]]
    values = iter(padded.scores(flat, dtype))
    answers = [[next(values) for _ in asked[i]] for i in range(len(rows))]
    return [pass_(i, lambda x, a=iter(answers[i]): next(a)) for i in range(len(rows))]


def explain_rows(adapter, records: list[dict], encs: list, spec, label_emb,
                 check=lambda: None) -> list[dict]:
    """The result rows (see dataset_batch.explain_row) of rows that passed the checks and
    whose encodings `encs` fit the memory budget, explained together. check() runs
    between the steps (the Stop button and the time budget: it raises)."""
    start = time.perf_counter()
    padded = Padded(adapter, spec.limits.memory_mb)
    rows = [_Row(row, enc) for row, enc in zip(records, encs)]
    _predict(adapter, rows, spec, padded, label_emb)
    _problems(adapter, rows, spec, padded)
    check()
    maps = {}
    if "integrated_gradients" in spec.methods:
        maps["integrated_gradients"] = _ig(rows, padded, METHODS["integrated_gradients"].resolve({}))
    maps |= _at_input(rows, padded, [m for m in spec.methods if m != "integrated_gradients"])
    maps = {m: maps[m] for m in spec.methods}
    check()
    dtype = resolve_precision(spec.precision, rows[0].problem.inputs.device)
    faith = _faithfulness(rows, maps, padded, dtype)
    heads = None
    check()
    if spec.heads:
        heads = head_scan(padded, rows, head_sites(adapter), edit_heads)
    seconds = (time.perf_counter() - start) / len(rows)        # each row's share of the batch
    return [_result(adapter, r, i, spec, maps, faith[i], heads, dtype, seconds)
            for i, r in enumerate(rows)]


def _result(adapter, r: _Row, i: int, spec, maps, faith, heads, dtype, seconds) -> dict:
    text, enc, p = r.row["text"], r.enc, r.problem
    words, _, token_word = align_words(text, enc.offsets, enc.special)
    label = r.row.get("label")
    out = {"ok": True, "prediction": r.prediction, "score": r.score,
           "correct": (r.prediction == label) if r.prediction is not None and label is not None
           else None, "target": r.bound.describe(), "target_value": float(p.f_input),
           "n_tokens": int((~enc.special).sum()), "n_words": len(words), "words": list(words)}
    notes: list[str] = []
    for m, per_row in maps.items():
        scores, method_notes = per_row[i]
        scores = scores.float().cpu().numpy()
        f = faith[m]
        out |= {f"{m}.scores": word_scores(scores, token_word, len(words)).astype(
                    np.float64).tolist(),
                f"{m}.deletion_area": float(f.deletion_area),
                f"{m}.insertion_area": float(f.insertion_area),
                f"{m}.completeness": (math.nan if f.completeness_relative is None
                                      else float(f.completeness_relative))}
        mine = [*script_notes(adapter, text, enc), *precision_note(dtype, True), *method_notes]
        if enc.n_dropped:
            mine.append(f"The text was cut to {adapter.max_tokens} tokens: the last "
                        f"{enc.n_dropped} tokens are not attributed.")
        notes += [n for n in mine if n not in notes]
    if heads is not None:
        out["head_importance"] = (heads[i] - p.f_input).numpy().astype(np.float64).tolist()
    out["seconds"] = seconds
    out["notes"] = " ".join(notes)
    return {**r.row, **out}
