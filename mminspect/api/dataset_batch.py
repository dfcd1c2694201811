"""The one function that explains a batch of rows. The local backend calls it in this
process; the Ray backend calls it inside each Ray actor. There is no second implementation,
so the two backends give the same table (tested to 1e-6).

Per row it calls the library exactly as a notebook would: the prediction from the model's
own output, `compare_attributions` (every method on one shared problem, with deletion /
insertion areas and completeness) and `head_importance` (the causal lab's scan), both on the
same target: the predicted label's zero-shot log-odds, the predicted class, or the cosine
similarity to `text2`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..explain import cosine, softmax
from ..types import Cancelled, InputError, OverBudget, StopCheck
from .adapters import as_text_adapter
from .attribution import compare_attributions
from .causal import head_importance
from .dataset_images import ImageSpec, explain_image_batch
from .dataset_io import row_problem
from .dataset_rows import batchable, explain_rows, fits
from .limits import Limits, without_deadline

TARGETS = ("zero_shot", "similarity", "class", "mask_fill", "next_token")


@dataclass(frozen=True)
class DatasetSpec:
    """Everything a worker needs besides the rows: plain values, so Ray can send it to
    another process (or machine) and the worker loads the model by name there."""
    model: str
    target: str
    methods: tuple[str, ...]
    labels: tuple[str, ...] = ()
    heads: bool = True
    baseline: str = "pad"
    temperature: float = 0.05
    threads: int = 1                         # the same in every backend: same float sums
    precision: str = "float32"
    limits: Limits = field(default_factory=Limits)


def _prediction(adapter, row: dict, spec: DatasetSpec, label_emb) -> tuple[str | None, float]:
    """(predicted label or None, its score): the zero-shot label with the highest cosine
    (score: its softmax probability at `temperature`), the classifier's top class (score:
    its probability), or, for a pair, no label and the cosine similarity. Each text is
    embedded alone: padding it into a batch would change its numbers in the last bits, and
    the two backends cut batches differently."""
    if spec.target == "zero_shot":
        emb = adapter.embed([row["text"]])                               # [1, d]
        probs = softmax(cosine(emb, label_emb)[0], spec.temperature)     # [label]
        best = int(np.argmax(probs))
        return spec.labels[best], float(probs[best])
    if spec.target == "similarity":
        emb = adapter.embed([row["text"], row["text2"]])                 # [2, d]
        return None, float(cosine(emb[:1], emb[1:])[0, 0])
    if spec.target == "class":
        logits = adapter.run(adapter.encode(row["text"])).logits[0].float()     # [class]
        probs = torch.softmax(logits, -1)
        best = int(torch.argmax(probs))
        return adapter.label_names()[best], float(probs[best])
    return None, math.nan                    # language models: the target names the token


def _target_kwargs(row: dict, spec: DatasetSpec, predicted: str | None) -> dict:
    """The target of both the attributions and the head scan: what the model predicted."""
    if spec.target == "zero_shot":
        return {"target": "zero_shot", "labels": list(spec.labels), "label": predicted,
                "temperature": spec.temperature}
    if spec.target == "similarity":
        return {"target": "similarity", "compare_to": row["text2"]}
    if spec.target == "class":
        return {"target": "class", "label": predicted}
    return {"target": spec.target}


def _skipped(row: dict, spec: DatasetSpec, reason: str, seconds: float) -> dict:
    out = {"ok": False, "prediction": None, "score": math.nan, "correct": None, "target": None,
           "target_value": math.nan, "n_tokens": None, "n_words": None, "words": None,
           "seconds": seconds, "notes": f"skipped: {reason}"}
    for m in spec.methods:
        out |= {f"{m}.scores": None, f"{m}.deletion_area": math.nan,
                f"{m}.insertion_area": math.nan, f"{m}.completeness": math.nan}
    if spec.heads:
        out["head_importance"] = None
    return {**row, **out}


def explain_row(adapter, row: dict, spec: DatasetSpec, label_emb=None,
                should_stop: StopCheck | None = None) -> dict:
    """One row of the result table (see explain_batch)."""
    start = time.perf_counter()
    problem = row_problem(row, spec.limits)
    if problem:
        return _skipped(row, spec, problem, time.perf_counter() - start)
    predicted, score = _prediction(adapter, row, spec, label_emb)
    kwargs = _target_kwargs(row, spec, predicted)
    try:
        with without_deadline():      # the call's clock runs between rows (api/dataset.py)
            comp = compare_attributions(adapter, row["text"], methods=list(spec.methods),
                                        baseline=spec.baseline, budget_s=math.inf,
                                        precision=spec.precision, should_stop=should_stop,
                                        **kwargs)
            heads = (head_importance(adapter, row["text"], budget_s=math.inf,
                                     should_stop=should_stop, **kwargs) if spec.heads else None)
    except (OverBudget, Cancelled):
        raise                                 # the whole call stops, not this row
    except InputError as e:                   # e.g. a text too long for a gradient step
        return _skipped(row, spec, str(e), time.perf_counter() - start)
    first = comp.results[0]
    label = row.get("label")
    out = {"ok": True, "prediction": predicted, "score": score,
           "correct": (predicted == label) if predicted is not None and label is not None else None,
           "target": first.target, "target_value": float(first.target_value),
           "n_tokens": int((~first.special).sum()), "n_words": len(first.words),
           "words": list(first.words)}
    notes = []
    for r in comp.results:
        f = r.faithfulness
        out |= {f"{r.method}.scores": r.word_scores.astype(np.float64).tolist(),
                f"{r.method}.deletion_area": float(f.deletion_area),
                f"{r.method}.insertion_area": float(f.insertion_area),
                f"{r.method}.completeness": (math.nan if f.completeness_relative is None
                                             else float(f.completeness_relative))}
        notes += [n for n in r.notes if n not in notes]
    if spec.heads:
        out["head_importance"] = heads.delta.astype(np.float64).tolist()   # [layer][head]
    out["seconds"] = time.perf_counter() - start
    out["notes"] = " ".join(notes)
    return {**row, **out}


def _together(adapter, rows: list[dict], spec: DatasetSpec, label_emb,
              should_stop) -> list[dict]:
    """explain_batch when the rows can run together (dataset_rows.batchable): rows that
    fail a check (empty, too long for one gradient step...) take explain_row, which says
    why in their notes; the others are explained together (api/dataset_rows.py)."""
    out: list[dict | None] = [None] * len(rows)
    together, encs = [], []
    for i, row in enumerate(rows):
        enc = None
        if not row_problem(row, spec.limits):
            try:
                enc = adapter.encode(row["text"])
            except InputError:
                pass
        if enc is None or not fits(adapter, enc, spec.limits.memory_mb):
            out[i] = explain_row(adapter, row, spec, label_emb, should_stop)
        else:
            together.append(i)
            encs.append(enc)
    if together:
        def check() -> None:       # Stop between the steps; the budget is the call's clock's
            if should_stop is not None and should_stop():
                raise Cancelled("Stopped.")
        done = explain_rows(adapter, [rows[i] for i in together], encs, spec, label_emb, check)
        for i, result in zip(together, done):
            out[i] = result
    return out


def explain_batch(adapter, rows: list[dict], spec: DatasetSpec,
                  should_stop: StopCheck | None = None, between=None) -> list[dict]:
    """The result rows of `rows` (dicts of the input columns), in order. `between()` is
    called before each row, or once before rows that run together (the local backend's
    clock: it raises Cancelled or OverBudget; should_stop is also asked between steps);
    torch runs on spec.threads threads, restored afterwards. Text rows of a Hugging Face
    model with gradient methods run together in padded forwards (api/dataset_rows.py),
    the others one by one (explain_row). An ImageSpec's rows (a folder of images and a CSV)
    go to api/dataset_images.py: maps, pointing, faithfulness and the head scan per image."""
    if isinstance(spec, ImageSpec):
        return explain_image_batch(adapter, rows, spec, should_stop, between)
    adapter = as_text_adapter(adapter)
    label_emb = adapter.embed(list(spec.labels)) if spec.target == "zero_shot" else None
    before = torch.get_num_threads()
    torch.set_num_threads(spec.threads)
    try:
        if batchable(adapter, spec):
            if between is not None:
                between()
            return _together(adapter, rows, spec, label_emb, should_stop)
        out = []
        for row in rows:
            if between is not None:
                between()
            out.append(explain_row(adapter, row, spec, label_emb, should_stop))
        return out
    finally:
        torch.set_num_threads(before)
