"""Ray's overhead at 1,000 rows: explain_dataset with backend="ray" next to "local" on the
same rows and batches, in one process, Ray's start-up timed apart (goal: Ray within 1.3x of
local, identical tables).

    python -m mminspect.lab.bench_dataset_ray                       # 1000 rows, Saliency
    python -m mminspect.lab.bench_dataset_ray --rows 240 --methods integrated_gradients --heads

The bundled minimal pairs (repeated to --rows), MiniLM, zero-shot, 16 rows per batch, one
torch thread (the Ray actor gets the same count). The default asks for Saliency without
the head scan so that 1,000 rows take minutes on 2 busy cores (the full IG + head scan
runs about 2 s per row there: `python -m mminspect.bench --only dataset` measures that
at fewer rows). Ray runs on loopback with 2 CPUs and one actor, and is shut down after.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

GOAL = 1.3


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mminspect.lab.bench_dataset_ray")
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--methods", nargs="+", default=["saliency"])
    p.add_argument("--heads", action="store_true", help="also the head scan")
    a = p.parse_args(argv)
    os.environ.setdefault("MMINSPECT_MAX_ROWS", str(a.rows))      # your own machine
    import torch

    import mminspect as mi
    from mminspect.lab.bench_dataset import BATCH, _max_diff, labels_of, on_ray, rows
    torch.set_num_threads(1)
    model = mi.load("minilm")
    data = rows(a.rows)
    kw = {"methods": a.methods, "heads": a.heads, "labels": labels_of(data),
          "budget_s": math.inf, "batch_size": BATCH}
    mi.explain_dataset(model, data[:BATCH], **kw)                            # warm-up
    start = time.perf_counter()
    local = mi.explain_dataset(model, data, **kw)
    local_s = time.perf_counter() - start
    remote, ray_s, start_s = on_ray(model, data, kw)
    cols = [f"{m}.scores" for m in a.methods] + (["head_importance"] if a.heads else [])
    diff = max(_max_diff(local[c].map(lambda v: v.tolist() if hasattr(v, "tolist") else v),
                         remote[c].map(lambda v: v.tolist() if hasattr(v, "tolist") else v))
               for c in cols)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    ratio = ray_s / local_s
    print(f"{a.rows} rows, {', '.join(a.methods)}{' + head scan' if a.heads else ''}: local "
          f"{local_s:.1f} s, ray {ray_s:.1f} s after {start_s:.1f} s of start-up; ray / local "
          f"{ratio:.2f} (goal <= {GOAL}: {'yes' if ratio <= GOAL else 'NO'}); max difference "
          f"{diff:.1e}; 1 thread, load average {load}")
    return 0 if ratio <= GOAL and diff == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
