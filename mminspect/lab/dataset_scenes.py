"""The whole run: dataset mode over 1,000 fixed-seed scenes with relevance, the dense maps and
pointing, timed, and checked against the shipped pointing table on the same scenes.

    python -m mminspect.lab.dataset_scenes [--model miniclip2] [--n 1000] [--threads 1]
                                           [--out runs/scenes1000] [--json record.json]

The scenes are the pointing game's (`lab/pointing.py`, seed 2024, scene i drawn from its own
seeded generator), written as a folder of images, exact masks and images.csv by
`lab/scene_set.write`: the first 40 are the bundled set (assets/datasets/scenes*), the first
200 the shipped pointing table's (assets/<model>/pointing.json). `explain_dataset` then runs
the set (faithfulness and the head scan off: this run is the pointing game's work), writing
its table batch by batch; the wall time, the process's CPU time and the load average are
printed, and the table's hit rate and energy-in-mask over the shipped table's scenes are set
beside the shipped figures. Their difference should be 0 (the same maps, summed in the same
order) unless the code changed since the table was written.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..api.images import MAX_PROMPTS
from ..models import miniclip_adapter
from ..models.registry import scene_models
from .scene_set import write

DENSE = ("similarity", "maskclip", "sclip")         # the dense patch-text maps
METHODS = ("relevance",) + DENSE


def shipped_table(model: str) -> dict:
    """The shipped pointing table of a bundled mini-CLIP (assets/<model>/pointing.json)."""
    path = miniclip_adapter.bundled_dir(f"bundled:{model}") / "pointing.json"
    return json.loads(path.read_text())


def compare(table: pd.DataFrame, results: dict, n: int, methods) -> pd.DataFrame:
    """Per method, the table's hit rate and energy-in-mask over its first n rows beside the
    pointing game's `results` ({method: {"hit_rate", "energy"}, "chance", "energy_chance"})
    for the same n scenes, and their difference."""
    head = table[table["row"] < n]
    if len(head) != n or not head["ok"].all():
        raise ValueError(f"the table's first {n} rows are not all explained")
    lines = []
    for m in methods:
        for metric, key in (("pointing_hit", "hit_rate"), ("energy_in_mask", "energy")):
            if m in results:
                mine = float(np.mean(head[f"{m}.{metric}"].to_numpy(np.float64)))
                lines.append({"method": m, "metric": metric, "table": mine,
                              "shipped": results[m][key], "diff": mine - results[m][key]})
    for col, key in (("chance", "chance"), ("energy_chance", "energy_chance")):
        mine = float(np.mean(head[col].to_numpy(np.float64)))
        lines.append({"method": "", "metric": col, "table": mine, "shipped": results[key],
                      "diff": mine - results[key]})
    return pd.DataFrame(lines)


def run(model: str, n: int, out: Path, methods=METHODS, batch_size: int = 40) -> dict:
    """Write the n scenes, explain them, time it; the figures as a dict."""
    import mminspect as mi
    world = scene_models().get(model, "shapes") == "world"
    t0 = time.perf_counter()
    folder = write(world, n, out=out / "scenes")
    write_s = time.perf_counter() - t0
    csv = pd.read_csv(folder / "images.csv", dtype=str, keep_default_na=False)
    n_labels = csv["label"].nunique()
    if n_labels > MAX_PROMPTS:
        # 1,000 world scenes name 94 objects: more than one image-text call compares, so
        # this run makes no zero-shot prediction (the pointing game makes none either)
        csv.drop(columns="label").to_csv(folder / "images.csv", index=False)
    load_before = os.getloadavg()
    cpu0, t0 = time.process_time(), time.perf_counter()
    table = mi.explain_dataset(model, folder, methods=list(methods), faithfulness=False,
                               heads=False, batch_size=batch_size, budget_s=math.inf,
                               out=out / "results")
    wall_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    load_after = os.getloadavg()
    shipped = shipped_table(model)
    k = min(n, shipped["n"])
    same = compare(table, shipped["results"], k, methods) if k == shipped["n"] else None
    import torch
    return {"model": model, "n": n, "methods": list(methods), "write_s": write_s,
            "wall_s": wall_s, "cpu_s": cpu_s, "rows_per_s": n / wall_s,
            "threads": torch.get_num_threads(), "load_before": load_before,
            "load_after": load_after, "ok_rows": int(table["ok"].sum()),
            "labels": int(n_labels), "predicted": bool(n_labels <= MAX_PROMPTS),
            "accuracy": (float(table["correct"].dropna().astype(float).mean())
                         if n_labels <= MAX_PROMPTS else None),
            "hit_rate": {m: float(table[f"{m}.pointing_hit"].mean()) for m in methods},
            "shipped_n": shipped["n"], "shipped_date": shipped["date"],
            "comparison": None if same is None else same.to_dict("records"),
            "max_abs_diff": None if same is None else float(same["diff"].abs().max())}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="miniclip2", choices=("miniclip", "miniclip2"))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--batch-size", type=int, default=40)
    ap.add_argument("--out", type=Path, default=Path("runs/dataset_scenes"))
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args(args)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MMINSPECT_MAX_ROWS", str(max(a.n, 1000)))
    import torch
    torch.set_num_threads(a.threads)
    f = run(a.model, a.n, a.out, a.methods.split(","), a.batch_size)
    print(f"{a.model}: {f['n']} scenes, {', '.join(f['methods'])}, {f['threads']} thread(s): "
          f"wall {f['wall_s']:.1f} s, CPU {f['cpu_s']:.1f} s ({f['rows_per_s']:.1f} rows/s); "
          f"scenes written in {f['write_s']:.1f} s; load average "
          f"{' '.join(f'{x:.1f}' for x in f['load_before'])} before, "
          f"{' '.join(f'{x:.1f}' for x in f['load_after'])} after")
    print(f"rows explained: {f['ok_rows']}; " + (
        f"zero-shot accuracy {f['accuracy']:.3f} over {f['labels']} labels" if f["predicted"]
        else f"no zero-shot prediction ({f['labels']} labels, over {MAX_PROMPTS} per call)"))
    if f["comparison"] is not None:
        print(f"first {f['shipped_n']} scenes against the shipped pointing table "
              f"({f['shipped_date']}): max |difference| {f['max_abs_diff']:.3g}")
        print(pd.DataFrame(f["comparison"]).to_string(index=False))
    if a.json:
        a.json.write_text(json.dumps(f, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
