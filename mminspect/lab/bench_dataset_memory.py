"""Dataset mode's memory does not grow with the set: the peak resident memory (RSS) of
explain_dataset(..., out="t.parquet", keep=False) at 1,000 rows and at 10,000 rows, each
in a fresh child process (goal: the larger within 15 % of the smaller).

    python -m mminspect.lab.bench_dataset_memory               # 1000 and 10000 rows
    python -m mminspect.lab.bench_dataset_memory --rows 200 2000 --model minilm

What runs: the bundled text set (repeated), Integrated Gradients + the head scan, 16 rows
per batch, one torch thread, each batch written to the Parquet file and dropped. The
default model is a tiny random BERT classifier (2 layers, width 32, MiniLM's tokenizer)
built in a temporary folder, so that 10,000 rows take minutes, not hours: the model's own
memory is the same at any number of rows, and what could grow (the rows read, the
results kept, Parquet's writer) is the same code for any model. --model minilm measures
the real model (slow: about 1 s per row on 2 busy cores).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 1.15


def tiny_model(folder: Path) -> str:
    """A tiny random BERT classifier with MiniLM's tokenizer, saved like a download."""
    import torch
    import transformers as tf

    from mminspect.models import load
    tokenizer = load("minilm").tokenizer
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = tf.BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=512, num_labels=2,
                        id2label={0: "animals", 1: "sports"},
                        label2id={"animals": 0, "sports": 1})
    tf.BertForSequenceClassification(cfg).eval().save_pretrained(folder)
    return str(folder)


def child(n: int, model: str, out: Path) -> dict:
    """One measurement, in this (fresh) process."""
    import torch

    import mminspect as mi
    from mminspect.lab.bench_dataset import rows
    torch.set_num_threads(1)
    data = rows(n)
    start = time.perf_counter()
    path = mi.explain_dataset(model, data, methods=["integrated_gradients"], heads=True,
                              out=out, keep=False, budget_s=math.inf, batch_size=16)
    seconds = time.perf_counter() - start
    import pyarrow.parquet as pq
    written = pq.ParquetFile(str(path)).metadata.num_rows
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss        # KB on Linux
    return {"rows": n, "written": written, "peak_rss_mb": peak_kb / 1024, "seconds": seconds}


def measure(sizes: list[int], model: str) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        if model == "tiny":
            model = tiny_model(Path(tmp) / "tiny")
        for n in sizes:
            cmd = [sys.executable, "-m", "mminspect.lab.bench_dataset_memory", "--child",
                   str(n), model, str(Path(tmp) / f"t{n}.parquet")]
            env = {**os.environ, "MMINSPECT_MAX_ROWS": str(max(sizes))}   # your own machine
            done = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if done.returncode:
                raise RuntimeError(f"{n} rows failed:\n{done.stderr[-3000:]}")
            out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mminspect.lab.bench_dataset_memory")
    p.add_argument("--rows", type=int, nargs=2, default=[1000, 10000])
    p.add_argument("--model", default="tiny", help="'tiny' (default), or a model name/path")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        print(json.dumps(child(int(a.child[0]), a.child[1], Path(a.child[2]))))
        return 0
    small, large = measure(a.rows, a.model)
    ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    for m in (small, large):
        print(f"{m['rows']:>6} rows: peak RSS {m['peak_rss_mb']:.0f} MB, {m['written']} rows "
              f"written, {m['seconds']:.0f} s")
    print(f"peak RSS {large['rows']} / {small['rows']} rows: {ratio:.3f} (goal <= {GOAL}: "
          f"{'yes' if ratio <= GOAL else 'NO'}); model {a.model}, 1 thread, load average {load}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
