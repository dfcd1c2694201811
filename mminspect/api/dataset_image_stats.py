"""Aggregates over an image set's table (api/dataset_images.py): pure functions of the table,
so they can be recomputed from a saved Parquet file.

    s = mi.summarize_image_dataset(table)   # method, metric, n, mean, low, high, chance
    agg = image_summary(table)              # the same, plus head importance [layer, head]
                                            # mean and spread over the rows
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .dataset_stats import (accuracy_by_slice, agreement_over_set, bootstrap_mean, head_stats,
                            save_counts)

# (metric, the column saying what chance scores on the row, or None)
IMAGE_SUMMARY = (("pointing_hit", "chance"), ("energy_in_mask", "energy_chance"),
                 ("deletion_area", None), ("insertion_area", None))


def image_methods_of(table: pd.DataFrame) -> list[str]:
    return [c[: -len(".patch_scores")] for c in table.columns if c.endswith(".patch_scores")]


def summarize_image_dataset(table: pd.DataFrame, n_boot: int = 1000, level: float = 0.95,
                            seed: int = 0) -> pd.DataFrame:
    """Per method: pointing hit rate and energy-in-mask over the rows with a mask, beside what
    chance scores, and the deletion / insertion areas over the rows that have them (each the
    mean with a percentile bootstrap interval, seeded); and the accuracy."""
    if isinstance(table, (str, Path)):
        from .dataset_io import read_table
        table = read_table(table)
    ok = table[table["ok"].astype(bool)]
    lines = []
    for m in image_methods_of(table):
        for metric, chance in IMAGE_SUMMARY:
            col = f"{m}.{metric}"
            if col not in ok:
                continue
            v = pd.to_numeric(ok[col], errors="coerce").to_numpy(dtype=np.float64)
            if metric in ("deletion_area", "insertion_area") and not np.isfinite(v).any():
                continue                    # faithfulness=False: no such figure, not a NaN line
            mean, low, high = bootstrap_mean(v, n_boot, level, seed)
            c = (pd.to_numeric(ok[chance], errors="coerce") if chance
                 else pd.Series([], dtype=np.float64))
            lines.append({"method": m, "metric": metric, "n": int(np.isfinite(v).sum()),
                          "mean": mean, "low": low, "high": high,
                          "chance": float(c.mean()) if c.notna().any() else np.nan})
    if "correct" in ok and ok["correct"].notna().any():
        v = ok["correct"].dropna().astype(float).to_numpy()
        mean, low, high = bootstrap_mean(v, n_boot, level, seed)
        lines.append({"method": "", "metric": "accuracy", "n": int(v.size), "mean": mean,
                      "low": low, "high": high, "chance": np.nan})
    return pd.DataFrame(lines, columns=["method", "metric", "n", "mean", "low", "high",
                                        "chance"])


@dataclass
class ImageSummary:
    n_rows: int
    n_ok: int
    figures: pd.DataFrame                   # summarize_image_dataset's table
    heads_mean: np.ndarray | None           # [layer, head]: mean change of the probability
    heads_std: np.ndarray | None            # [layer, head]: its spread over the rows
    accuracy: pd.DataFrame                  # slice, value, n, correct, accuracy (all, label)
    agreement: pd.DataFrame                 # method x method: mean Spearman of the maps

    def save(self, folder) -> Path:
        """pointing.csv (every method's figures), heads_mean.csv, heads_std.csv (rows are
        layers) and summary.json with the counts."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.figures.to_csv(folder / "pointing.csv", index=False)
        self.accuracy.to_csv(folder / "accuracy.csv", index=False)
        self.agreement.to_csv(folder / "agreement.csv")
        save_counts(folder, self)
        return folder


def map_agreement(table: pd.DataFrame) -> pd.DataFrame:
    """method x method: Spearman's rho of two methods' patch maps on a row, averaged over the
    explained rows (a patch map has tens of patches: every row counts)."""
    return agreement_over_set(table, "patch_scores", 0)


def image_summary(table, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> ImageSummary:
    """The figures of summarize_image_dataset and the image-tower head importance over the
    set: mean and standard deviation [layer, head] of each row's scan."""
    if isinstance(table, (str, Path)):
        from .dataset_io import read_table
        table = read_table(table)
    ok = table[table["ok"].astype(bool)]
    mean, std = head_stats(ok)
    by = ["all"] + (["label"] if "label" in table else [])
    return ImageSummary(n_rows=len(table), n_ok=len(ok),
                        figures=summarize_image_dataset(table, n_boot, level, seed),
                        heads_mean=mean, heads_std=std,
                        accuracy=accuracy_by_slice(table.assign(n_words=None), by),
                        agreement=map_agreement(ok))
