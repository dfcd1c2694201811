"""Benchmark section "dataset_images": mi.explain_dataset on the bundled mini-CLIP 2 scene
folder next to a loop of the single-input API (per image: `inspect_clip` against the labels
for the prediction, `attribute_image(..., mask=)` per method), same rows, same run.

explain_dataset predicts a whole batch of images in one forward pass of both towers; the
maps are still one image at a time (each needs its own backward pass), so the gain is the
prediction's share of the work. Also checks that both give the same maps and hits.
"""
from __future__ import annotations

import math
import os
import time

import numpy as np
import pandas as pd
import torch
from PIL import Image

import mminspect as mi

METHODS = ["relevance", "legrad"]


def single_input_loop(model, folder, rows: pd.DataFrame, labels: list[str]) -> list[dict]:
    out = []
    for _, r in rows.iterrows():
        image = Image.open(folder / r["file"])
        mask = np.asarray(Image.open(folder / r["mask"])) > 127
        probs = mi.inspect_clip(model, image, labels).probs[0]
        row = {"prediction": labels[int(np.argmax(probs))]}
        for m in METHODS:
            res = mi.attribute_image(model, image, r["prompt"], m, mask=mask)
            row[m] = np.asarray(res.patch_scores).ravel()
            row[f"{m}.hit"] = float(res.pointing_hit)
        out.append(row)
    return out


def run(repeats: int) -> dict:
    model = mi.load("miniclip2")
    folder = mi.load_dataset_sample("scenes")
    rows = pd.read_csv(folder / "images.csv", dtype=str, keep_default_na=False)
    labels = sorted(set(rows["label"]))
    kw = {"methods": METHODS, "budget_s": math.inf, "batch_size": 40, "faithfulness": False,
          "heads": False}           # the loop below makes the maps only
    single_input_loop(model, folder, rows.head(2), labels)                 # warm-up
    times = {"local": [], "loop": []}
    for _ in range(max(1, repeats // 10)):
        start = time.perf_counter()
        table = mi.explain_dataset(model, folder, **kw)
        times["local"].append(time.perf_counter() - start)
        start = time.perf_counter()
        loop = single_input_loop(model, folder, rows, labels)
        times["loop"].append(time.perf_counter() - start)
    local_s, loop_s = min(times["local"]), min(times["loop"])
    n = len(rows)
    diff = max(float(np.max(np.abs(np.asarray(a) - b[m])))
               for m in METHODS for a, b in zip(table[f"{m}.patch_scores"], loop))
    same = all(t == b["prediction"] for t, b in zip(table["prediction"], loop)) and all(
        t == b[f"{m}.hit"] for m in METHODS for t, b in zip(table[f"{m}.pointing_hit"], loop))
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    f = {"rows": n, "threads": torch.get_num_threads(), "load_average": load,
         "local_s": local_s, "loop_s": loop_s, "local_rows_per_s": n / local_s,
         "loop_rows_per_s": n / loop_s, "max_diff_maps": diff, "same_predictions_hits": same}
    f["checks"] = [
        (f"image explain_dataset local / single-input loop, {n} scenes", local_s / loop_s, 1.0,
         f"local {n / local_s:.1f} rows/s, loop {n / loop_s:.1f} rows/s ({', '.join(METHODS)}"
         f" + zero-shot prediction over {len(labels)} labels); {f['threads']} threads, load "
         f"average {load}"),
        ("image explain_dataset vs loop, max map difference", diff, 1e-5,
         f"predictions and pointing hits equal: {same}"),
    ]
    return f
