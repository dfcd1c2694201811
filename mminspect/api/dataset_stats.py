"""Aggregates over a dataset-mode table: pure functions of the table (they never run a
model), so they can be recomputed from a saved Parquet file.

    s = mi.summarize_dataset(table)          # or mi.summarize_dataset("results/table.parquet")
    s.accuracy        # slice, value, n, correct, accuracy
    s.faithfulness    # method, metric, n, mean, low, high  (bootstrap interval of the mean)
    s.heads_mean, s.heads_std                # [layer, head] over the set
    s.agreement       # method x method: mean Spearman of the word scores over the rows
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..explain.sanity.agreement import agreement_matrix
from ..types import InputError

METRICS = ("deletion_area", "insertion_area", "completeness")
# Word-count bins for the "length" slice: fixed, so two runs slice the same way.
LENGTH_BINS = ((1, 5), (6, 10), (11, 20), (21, 40), (41, None))
MIN_WORDS_AGREEMENT = 3        # a rank correlation of two words is always +1 or -1


def bootstrap_mean(values, n_boot: int = 1000, level: float = 0.95,
                   seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean of `values` (NaN ignored) and its percentile bootstrap
    interval: resample the values with replacement n_boot times (seeded: the same numbers
    every run) and take the middle `level` of the resampled means."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]                                              # [n]
    if v.size == 0:
        return (np.nan, np.nan, np.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))               # [boot, n]
    means = v[idx].mean(axis=1)                                        # [boot]
    tail = (1.0 - level) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(v.mean()), float(low), float(high)


def length_bin(n_words) -> str | None:
    if n_words is None or (isinstance(n_words, float) and np.isnan(n_words)):
        return None
    for lo, hi in LENGTH_BINS:
        if n_words >= lo and (hi is None or n_words <= hi):
            return f"{lo}-{hi} words" if hi else f"{lo}+ words"
    return None


def methods_of(table: pd.DataFrame) -> list[str]:
    return [c[: -len(".scores")] for c in table.columns if c.endswith(".scores")]


def accuracy_by_slice(table: pd.DataFrame, by=None) -> pd.DataFrame:
    """One row per (slice, value): rows with a known `correct`, how many were correct, and
    the share. "all" is the whole set; "length" bins the word count (LENGTH_BINS); by
    default also "label" and "slice" where the table has them."""
    rows = table[table["ok"].astype(bool)] if "ok" in table else table
    rows = rows[rows["correct"].notna()] if "correct" in rows else rows.iloc[:0]
    rows = rows.assign(length=rows["n_words"].map(length_bin) if len(rows) else [],
                       all="all")
    by = list(by) if by is not None else ["all", "length"] + [
        c for c in ("label", "slice") if c in table.columns]
    out = []
    for col in by:
        if col not in rows.columns:
            raise InputError(f"No column {col!r} to slice by; the table has: "
                             f"{', '.join(map(str, table.columns))}.")
        for value, group in rows.groupby(col, sort=True, dropna=True):
            k = int(group["correct"].astype(bool).sum())
            out.append({"slice": col, "value": str(value), "n": len(group), "correct": k,
                        "accuracy": k / len(group)})
    return pd.DataFrame(out, columns=["slice", "value", "n", "correct", "accuracy"])


def faithfulness_summary(table: pd.DataFrame, n_boot: int = 1000, level: float = 0.95,
                         seed: int = 0) -> pd.DataFrame:
    """Per method and metric: rows with a number, the mean, and its bootstrap interval."""
    out = []
    for m in methods_of(table):
        for metric in METRICS:
            values = pd.to_numeric(table[f"{m}.{metric}"], errors="coerce").to_numpy(np.float64)
            mean, low, high = bootstrap_mean(values, n_boot, level, seed)
            out.append({"method": m, "metric": metric, "n": int(np.isfinite(values).sum()),
                        "mean": mean, "low": low, "high": high})
    return pd.DataFrame(out, columns=["method", "metric", "n", "mean", "low", "high"])


def head_stats(table: pd.DataFrame) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(mean, standard deviation) over the rows of head_importance: [layer, head] each."""
    if "head_importance" not in table.columns:
        return None, None
    grids = [np.asarray([np.asarray(r, dtype=np.float64) for r in g]) for g in
             table["head_importance"] if g is not None and len(g)]
    if not grids:
        return None, None
    stack = np.stack(grids)                                            # [row, layer, head]
    return stack.mean(axis=0), stack.std(axis=0)


def agreement_over_set(table: pd.DataFrame, column: str = "scores",
                       min_len: int = MIN_WORDS_AGREEMENT) -> pd.DataFrame:
    """method x method: Spearman's rho of two methods' word scores (column="patch_scores":
    an image set's patch maps) on a row, averaged over the rows with at least min_len."""
    methods = [c[: -len(f".{column}")] for c in table.columns if c.endswith(f".{column}")]
    total, n = np.zeros((len(methods), len(methods))), 0
    for _, row in table.iterrows():
        maps = [row[f"{m}.{column}"] for m in methods]
        if any(s is None for s in maps) or len(maps[0]) < min_len:
            continue
        total += agreement_matrix(np.stack([np.asarray(s, np.float64) for s in maps]))[0]
        n += 1
    mean = total / n if n else np.full_like(total, np.nan)
    return pd.DataFrame(mean, index=methods, columns=methods)


def save_counts(folder: Path, summary, **more) -> None:
    """heads_mean.csv, heads_std.csv (rows are layers) and summary.json with the counts."""
    for name, grid in (("heads_mean", summary.heads_mean), ("heads_std", summary.heads_std)):
        if grid is not None:
            pd.DataFrame(grid).to_csv(folder / f"{name}.csv", index_label="layer")
    (folder / "summary.json").write_text(json.dumps(
        {"rows": summary.n_rows, "explained": summary.n_ok,
         "skipped": summary.n_rows - summary.n_ok, **more}, indent=1))


@dataclass
class DatasetSummary:
    n_rows: int
    n_ok: int
    accuracy: pd.DataFrame
    faithfulness: pd.DataFrame
    heads_mean: np.ndarray | None
    heads_std: np.ndarray | None
    agreement: pd.DataFrame
    n_agreement: int

    def save(self, folder) -> Path:
        """accuracy.csv, faithfulness.csv, agreement.csv, heads_mean.csv, heads_std.csv
        (rows: layers, columns: heads) and summary.json with the counts."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.accuracy.to_csv(folder / "accuracy.csv", index=False)
        self.faithfulness.to_csv(folder / "faithfulness.csv", index=False)
        self.agreement.to_csv(folder / "agreement.csv")
        save_counts(folder, self, rows_in_agreement=self.n_agreement)
        return folder


def summarize_dataset(table, *, by=None, n_boot: int = 1000, level: float = 0.95,
                      seed: int = 0) -> DatasetSummary:
    """The aggregates of an explain_dataset table (a DataFrame or its Parquet file): accuracy
    per slice (by: columns, default all / label / length / slice), each method's mean
    faithfulness with a seeded bootstrap interval (`level`, n_boot resamples), head
    importance mean and spread [layer, head], and method agreement over the set."""
    if isinstance(table, (str, Path)):
        from .dataset_io import read_table
        table = read_table(table)
    if not 0 < level < 1 or n_boot < 10:
        raise InputError(f"level must be in (0, 1) and n_boot >= 10; got {level}, {n_boot}.")
    ok = table[table["ok"].astype(bool)]
    mean, std = head_stats(ok)
    n_agree = int(sum(1 for w in ok["n_words"] if w is not None and w >= MIN_WORDS_AGREEMENT))
    return DatasetSummary(n_rows=len(table), n_ok=len(ok), accuracy=accuracy_by_slice(table, by),
                          faithfulness=faithfulness_summary(ok, n_boot, level, seed),
                          heads_mean=mean, heads_std=std, agreement=agreement_over_set(ok),
                          n_agreement=n_agree)
