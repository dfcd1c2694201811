"""The sanity check summarised over a sample of a dataset-mode table.

    sample = mi.dataset_sanity(model, table, n=5)   # one row per (row, method), then
    sample.attrs["summary"]                         # per method: pass rate and mean score

A sanity check re-initialises the model's blocks from the top down and asks whether the
map changes (mi.sanity_check). It costs several maps per row and method, so it runs on a
seeded random sample of the explained rows, each explained exactly as the table explained
it (the predicted label, the predicted class or the pair's similarity).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..types import InputError, Progress, StopCheck
from .dataset_stats import methods_of
from .limits import request_budget
from .trust import sanity_check


def _target(row, spec: dict) -> dict:
    target = spec.get("target")
    if target == "zero_shot":
        return {"target": "zero_shot", "labels": list(spec["labels"]), "label": row["prediction"]}
    if target == "similarity":
        return {"target": "similarity", "compare_to": row["text2"]}
    if target == "class":
        return {"target": "class", "label": row["prediction"]}
    return {"target": target}


def dataset_sanity(model, table: pd.DataFrame, *, n: int = 5, methods=None, seed: int = 0,
                   budget_s: float | None = None, progress: Progress | None = None,
                   should_stop: StopCheck | None = None) -> pd.DataFrame:
    """mi.sanity_check on `n` explained rows of `table` (drawn with `seed`) for each method
    of the table (or `methods`): one line per row and method (row, method, score, passed,
    data_score, target_ignored), and in `.attrs["summary"]` per method the rows checked, how
    many passed, the pass rate and the mean score. The table must come from explain_dataset
    in this session (its `.attrs["spec"]` names the target and the labels). budget_s
    (default MMINSPECT_BUDGET_S) covers every check together."""
    spec = table.attrs.get("spec")
    if not spec:
        raise InputError("This table does not say how it was explained (its attrs['spec'] is "
                         "missing, e.g. after a round trip through a file): run "
                         "explain_dataset in this session and pass its table.")
    methods = list(methods or methods_of(table))
    unknown = [m for m in methods if f"{m}.scores" not in table]
    if unknown:
        raise InputError(f"The table has no scores of {unknown}; it has {methods_of(table)}.")
    ok = table[table["ok"].astype(bool)]
    if not len(ok):
        raise InputError("No explained rows to check: every row of this table was skipped.")
    if not 1 <= int(n) <= len(ok):
        raise InputError(f"n must be from 1 to the {len(ok)} explained rows, got {n}.")
    picked = np.sort(np.random.default_rng(seed).choice(len(ok), size=int(n), replace=False))
    out, total, k = [], len(picked) * len(methods), 0
    with request_budget(budget_s):                     # one budget for every check
        for i in picked:
            row = ok.iloc[int(i)]
            for m in methods:
                if progress is not None:
                    progress(k / total, f"Sanity check {k + 1} of {total}")
                s = sanity_check(model, row["text"], method=m, seed=seed,
                                 should_stop=should_stop, **_target(row, spec))
                out.append({"row": int(row["row"]), "method": m, "score": float(s.score),
                            "passed": bool(s.passed),
                            "data_score": math.nan if s.data_score is None else float(s.data_score),
                            "target_ignored": s.target_ignored})
                k += 1
    sample = pd.DataFrame(out)
    summary = sample.groupby("method", sort=False).agg(
        rows=("passed", "size"), passed=("passed", "sum"), mean_score=("score", "mean"))
    summary["pass_rate"] = summary["passed"] / summary["rows"]
    sample.attrs["summary"] = summary.reset_index()
    return sample
