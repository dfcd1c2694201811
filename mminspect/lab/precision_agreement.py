"""How far a bfloat16 map is from the float32 one (`python -m mminspect.lab.precision_agreement`).

For each text (4 fixed passages of ~250 MiniLM tokens, cosine similarity to a fixed second
text, [PAD] baseline) and each forward-only method (Feature Ablation, Occlusion, LIME,
KernelSHAP, default parameters, no faithfulness curves, one side), the map in float32 and in
bfloat16 (`precision=`), and: Spearman rho between them, max |difference| / max |float32
score|, how many of float32's top-10 tokens bfloat16 also ranks top-10, and the seconds of
each (wall and CPU). The note the app shows next to a bfloat16 map quotes the worst rows
(docs/attributions.md, "Precision"); tests/test_attribution_precision.py re-checks one text.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
import torch
from scipy.stats import spearmanr

from ..api.attribution import attribute_text
from ..models import load
from .provenance import code_snapshot, provenance

TEXTS = (
    "Transformers read every token of a sentence at once. Each layer mixes information between "
    "positions with attention, then applies a small feed-forward network to each position. ",
    "The old fisherman pulled his small wooden boat onto the sandy beach at dawn, tired but "
    "happy with the silver fish he had caught overnight, while gulls circled the harbour. ",
    "The committee approved the new budget after a long debate about schools, roads and the "
    "hospital, and the mayor promised that taxes would not rise before the next election. ",
    "She planted tomatoes, beans and sunflowers in the garden behind the house, watered them "
    "every evening, and by August the whole family was eating salad from her own vegetables. ",
)
CODE = ("mminspect/explain/attribution", "mminspect/api/attribution.py", "mminspect/api/limits.py",
        "mminspect/models/hf_text.py")
COMPARE_TO = "A short text about learning, the sea, a city or a garden."
METHODS = ("feature_ablation", "occlusion", "lime", "kernel_shap")
TOKENS = 250


def text_of(adapter, seed: str, n_tokens: int) -> str:
    ids = adapter.tokenizer(seed * 20, add_special_tokens=False,
                            verbose=False)["input_ids"][: n_tokens - 2]
    return adapter.tokenizer.decode(ids)


def timed(fn):
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - cpu


def run(n_tokens: int = TOKENS) -> list[dict]:
    adapter = load("minilm")
    rows = []
    for i, seed in enumerate(TEXTS):
        text = text_of(adapter, seed, n_tokens)
        for method in METHODS:
            maps = {}
            for precision in ("float32", "bfloat16"):
                torch.manual_seed(0)
                maps[precision] = timed(lambda: attribute_text(
                    adapter, text, method, compare_to=COMPARE_TO, both_sides=False,
                    faithfulness=False, budget_s=math.inf, precision=precision))
            (a, ta, ca), (b, tb, cb) = maps["float32"], maps["bfloat16"]
            x, y = a.scores, b.scores
            top = len(set(np.argsort(-x)[:10]) & set(np.argsort(-y)[:10]))
            rows.append({"text": i, "tokens": len(a.tokens), "method": method,
                         "spearman": float(spearmanr(x, y)[0]),
                         "max_diff_rel": float(np.abs(x - y).max() / np.abs(x).max()),
                         "top10": top, "float32_s": ta, "bfloat16_s": tb,
                         "float32_cpu_s": ca, "bfloat16_cpu_s": cb})
            print(rows[-1], flush=True)
    return rows


def report(rows: list[dict]) -> str:
    lines = ["| text | tokens | method | Spearman | max diff / max score | top-10 shared | "
             "float32 s (CPU) | bfloat16 s (CPU) |", "|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['text']} | {r['tokens']} | {r['method']} | {r['spearman']:.4f} | "
                     f"{r['max_diff_rel']:.3f} | {r['top10']}/10 | {r['float32_s']:.2f} "
                     f"({r['float32_cpu_s']:.1f}) | {r['bfloat16_s']:.2f} "
                     f"({r['bfloat16_cpu_s']:.1f}) |")
    worst_rho = min(r["spearman"] for r in rows)
    worst_diff = max(r["max_diff_rel"] for r in rows)
    lines.append(f"\nWorst Spearman {worst_rho:.4f}; worst max diff {worst_diff:.3f} of the "
                 "largest score.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=TOKENS)
    args = ap.parse_args()
    at_start = code_snapshot(CODE)
    rows = run(args.tokens)
    print(report(rows))
    prov = provenance("mminspect.lab.precision_agreement", sys.argv[1:],
                      {"tokens": args.tokens, "methods": METHODS, "compare_to": COMPARE_TO,
                       "baseline": "pad", "seed": 0}, CODE, at_start=at_start)
    print(json.dumps({k: prov[k] for k in ("command", "params", "date", "machine")},
                     default=str))
    print("code commit", prov["code"]["git_commit"], "changed since", prov["code"]["changed_since_commit"],
          "sources sha256", prov["code"]["sha256"])


if __name__ == "__main__":
    main()
