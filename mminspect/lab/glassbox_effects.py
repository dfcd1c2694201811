"""`python -m mminspect.lab.glassbox_effects`: what each classic attention mistake does to the
bundled MiniLM, measured on a few fixed sentence pairs, written to docs/glassbox-effects.md
(the table) and docs/glassbox-effects.json (every number and the full recipe).

Per variant and sentence (`mi.break_attention` plus the same layer's other heads):
- weights error: max |broken - real| attention weights over every head of `--layer` (nan
  where the mistake has no per-head weights);
- output error: max |broken - real| attention output of `--layer` (real input, mistake in this
  layer only);
- prediction change: 1 - cosine of the sentence embedding, broken vs real, with the mistake in
  EVERY layer; and the similarity to the pair's second sentence, real and broken;
- entropy: mean entropy (nats) of a query's weights over the keys, real and broken, over the
  heads of `--layer` (why √d matters: without it the softmax saturates and entropy drops).
Deterministic (no sampling); the seed is recorded for form's sake.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import torch

import mminspect as mi
from mminspect.api.glassbox import _positions
from mminspect.api.trace import resolve_tower, run_layer
from mminspect.explain.attention_variants import EMBEDDING_VARIANTS, variants_for

from .provenance import ROOT, provenance, sources_that_run

PAIRS = [
    ("The cat sat on the mat.", "A kitten is resting on a rug."),
    ("The bank raised its interest rates again.", "Borrowing money is getting more expensive."),
    ("She played the violin at the concert last night.", "A musician performed on stage."),
    ("Dogs bite men.", "Men bite dogs."),
]
CODE = ("mminspect",)


def _entropy(w: torch.Tensor) -> float:
    """Mean over heads and queries of -Σ w log w over the keys (nats). w [head, T, T]."""
    w = w.clamp_min(1e-12)
    return float(-(w * w.log()).sum(-1).mean())


def _layer_heads(model, text: str, variant: str, layer: int) -> dict:
    """Weights error over every head of the layer, and the real and broken mean entropies."""
    t = resolve_tower(model, text)
    run = run_layer(t, layer)
    real = run.attentions                                                   # [head, T, T]
    if variant in EMBEDDING_VARIANTS:
        with _positions(t):
            broken = run_layer(t, layer).attentions                         # [head, T, T]
    else:
        rec: dict = {}
        fn = variants_for(t.causal)[variant][0]
        with torch.no_grad():
            fn(run.x, *run.weights.as_args(), run.n_heads, run.mask, trace=rec)
        broken = rec["weights"]                                             # [head | 1, T, T]
    per_head = broken.shape[0] == real.shape[0]
    err = float((broken - real).abs().max()) if per_head else math.nan
    return {"weights_error_all_heads": err, "entropy_real": _entropy(real),
            "entropy_broken": _entropy(broken)}


def measure(model, variant: str, layer: int, head: int) -> list[dict]:
    rows = []
    for text, other in PAIRS:
        b = mi.break_attention(model, text, variant, layer=layer, head=head, compare_to=other)
        rows.append({"text": text, "compare_to": other, "tokens": len(b.tokens),
                     "weights_error_head": b.weights_error, "output_error": b.output_error,
                     "prediction_change": b.prediction_change,
                     "similarity_real": b.similarity_real,
                     "similarity_broken": b.similarity_broken,
                     **_layer_heads(model, text, variant, layer)})
    return rows


def _median(rows, key):
    vals = [r[key] for r in rows if not math.isnan(r[key])]
    return statistics.median(vals) if vals else math.nan


def _fmt(x: float, spec: str = ".3g") -> str:
    return "—" if math.isnan(x) else format(x, spec)


def markdown(results: dict, prov: dict, params: dict) -> str:
    lines = [
        "# Glass-box attention: the measured effect of each classic mistake on MiniLM",
        "",
        f"Made by `{prov['command']}` on {prov['date']} (code {prov['code']['git_commit'][:10]}, "
        f"sources sha256 {prov['code']['sha256'][:12]}; every number and the full recipe: "
        "`docs/glassbox-effects.json`).",
        "",
        f"Model: the bundled all-MiniLM-L6-v2 (6 layers × 12 heads, 384 wide, an encoder). Errors "
        f"at layer {params['layer']} (weights: every head of that layer; the mistake in that layer "
        "only, on its real input). Prediction change: the mistake in **every** layer, measured "
        "as 1 − cosine of the sentence embedding (broken vs real), and the cosine similarity to "
        "a second sentence (real → broken). Medians over the sentence pairs below (min–max in "
        "brackets); entropy: mean over heads and queries of the weights' entropy, in nats.",
        "",
        "| variant | weights error | output error | 1 − cos(embedding) | similarity real → broken | entropy real → broken |",
        "|---|---|---|---|---|---|",
    ]
    for name, rows in results.items():
        chg = [r["prediction_change"] for r in rows]
        sim_r, sim_b = _median(rows, "similarity_real"), _median(rows, "similarity_broken")
        lines.append(
            f"| `{name}` | {_fmt(_median(rows, 'weights_error_all_heads'))} | "
            f"{_fmt(_median(rows, 'output_error'))} | {_fmt(statistics.median(chg))} "
            f"({_fmt(min(chg))}–{_fmt(max(chg))}) | {sim_r:.3f} → {sim_b:.3f} | "
            f"{_median(rows, 'entropy_real'):.2f} → {_median(rows, 'entropy_broken'):.2f} |")
    order = [r for r in results.get("no_position_embeddings", []) if r["text"] == "Dogs bite men."]
    if order:
        r = order[0]
        lines += ["", f"Word order: without position embeddings “Dogs bite men.” and “Men bite "
                  f"dogs.” have cosine similarity {r['similarity_broken']:.4f} (real model: "
                  f"{r['similarity_real']:.4f}): attention without positions cannot tell them apart."]
    lines += ["", "Sentence pairs:", ""]
    lines += [f"- “{a}” / “{b}”" for a, b in PAIRS]
    lines += ["", "What each variant is (`mminspect/explain/attention_variants.py`):", ""]
    lines += [f"- `{n}`: {d}" for n, d in mi.list_attention_variants("minilm").items()]
    lines += ["", "Reproduce: `python -m mminspect.lab.glassbox_effects` (deterministic; a few "
              "minutes on 2 CPU cores)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog="python -m mminspect.lab.glassbox_effects",
                                description=__doc__.splitlines()[0])
    p.add_argument("--layer", type=int, default=0)
    p.add_argument("--head", type=int, default=0, help="the head whose weights break_attention reports")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "glassbox-effects",
                   help="path without suffix: writes .md and .json")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(args)
    torch.manual_seed(a.seed)
    model = mi.load("minilm")
    params = {"model": "minilm", "layer": a.layer, "head": a.head, "seed": a.seed,
              "pairs": PAIRS, "variants": list(mi.list_attention_variants(model)),
              "prediction": "sentence embedding (mean pooled, normalised), 1 - cosine"}
    results = {}
    with sources_that_run(CODE) as files:
        results["correct_attention"] = measure(model, "correct_attention", a.layer, a.head)
    for name in params["variants"][1:]:
        results[name] = measure(model, name, a.layer, a.head)
        print(f"{name}: done", file=sys.stderr)
    prov = provenance("mminspect.lab.glassbox_effects", args, params=params, code=CODE,
                      files=sorted(set(files) | {"mminspect/lab/glassbox_effects.py",
                                                 "mminspect/explain/attention_variants.py"}))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    clean = {k: [{f: (None if isinstance(v, float) and math.isnan(v) else v)   # JSON has no NaN
                  for f, v in r.items()} for r in rows] for k, rows in results.items()}
    a.out.with_suffix(".json").write_text(json.dumps(
        {"results": clean, "provenance": prov}, indent=2, default=float) + "\n")
    a.out.with_suffix(".md").write_text(markdown(results, prov, params))
    print(a.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
