"""The shipped sanity table: every text method on minilm and every image method on miniclip
and miniclip2 (each on two-object scenes of its own world), cascading model randomisation
(Adebayo et al. 2018) over a fixed small set of inputs.

    python -m mminspect.lab.sanity_table --json assets/sanity/sanity.json --md docs/sanity-table.md

For each method and input, `mi.sanity_check` re-initialises the blocks top-down on a copy and
records the rank correlation of each step's map with the trained map; the table gives the
mean over inputs per step, the score (mean correlation once the top half is random, the
larger of signed and |scores| at each step) and the verdict (score < threshold), and the
random target's correlation (a map at or above SAME_MAP_ABOVE ignores its target). The app's
"failed the sanity check" and "hardly changes with a random target" badges read the JSON; it
records the weights and the source files it came from, and the app and
tests/test_sanity_table.py say when they changed since (api.trust_shipped.shipped_sanity).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from ..api import list_attribution_methods, list_image_methods, load, sanity_check
from ..api.shipped import probe_record
from ..api.trust_shipped import bundled_weights
from ..explain.sanity import PASS_BELOW, SAME_MAP_ABOVE
from ..models.registry import scene_models
from .pointing import pointing_scenes
from .provenance import code_snapshot, provenance, sources_that_run

SEED = 0
SCENE_SEED = 2024
TEXT_PAIRS = (
    ("The cat sat on the mat near the door.", "A kitten rested on a rug."),
    ("The stock market fell sharply after the announcement.", "Shares dropped when the news came out."),
    ("She baked fresh bread for the whole family.", "Homemade loaves for everyone at home."),
    ("The football match was cancelled because of heavy rain.", "Storms stopped the game."),
)
CODE = ("mminspect/lab/sanity_table.py", "mminspect/api", "mminspect/explain", "mminspect/models",
        "mminspect/capture", "mminspect/miniclip", "mminspect/types")


def _summary(checks) -> dict:
    """Mean over inputs of one method's checks."""
    sp = np.mean([c.spearman for c in checks], 0)                       # [step]
    sa = np.mean([c.spearman_abs for c in checks], 0)                   # [step]
    score = float(np.mean([c.score for c in checks]))
    data = [c.data_spearman for c in checks if c.data_spearman is not None]
    data_score = [c.data_score for c in checks if c.data_score is not None]
    return {"score": round(score, 3), "passed": bool(score < checks[0].threshold),
            "passed_inputs": sum(c.passed for c in checks), "n": len(checks),
            "spearman": [round(float(x), 3) for x in sp],
            "spearman_abs": [round(float(x), 3) for x in sa],
            "steps": list(checks[0].steps), "half": checks[0].half,
            "data_spearman": round(float(np.mean(data)), 3) if data else None,
            # the larger of signed and |scores| per input, then the mean: as the badge reads it
            "data_score": round(float(np.mean(data_score)), 3) if data_score else None,
            "target_ignored": (None if not data_score else
                               bool(np.mean(data_score) >= checks[0].data_threshold)),
            "seconds": round(float(np.mean([c.seconds for c in checks])), 2)}


def run_text(model: str, n: int, seed: int, methods=None, log=print) -> dict:
    adapter = load(model)
    out = {}
    for m in methods or [x["name"] for x in list_attribution_methods()]:
        checks = [sanity_check(adapter, a, method=m, compare_to=b, seed=seed)
                  for a, b in TEXT_PAIRS[:n]]
        out[m] = _summary(checks)
        log(f"  {model} {m:<22} score {out[m]['score']:+.2f}  {'pass' if out[m]['passed'] else 'FAIL'}")
    return out


def run_image(model: str, n: int, seed: int, methods=None, log=print) -> dict:
    adapter = load(model)
    scenes = pointing_scenes(n, seed=SCENE_SEED, world=scene_models().get(model) == "world")
    out = {}
    for m in methods or [x["name"] for x in list_image_methods()]:
        checks = [sanity_check(adapter, image=img, prompt=p, method=m, seed=seed)
                  for img, p, _ in scenes]
        out[m] = _summary(checks)
        log(f"  {model} {m:<22} score {out[m]['score']:+.2f}  {'pass' if out[m]['passed'] else 'FAIL'}")
    return out


def format_markdown(rec: dict) -> str:
    lines = ["| model | method | score (mean ρ, top half random or more) | verdict | "
             "ρ per step (trained → all random) | ρ, random target | s / check |",
             "|---|---|---|---|---|---|---|"]
    same = rec.get("data_threshold", SAME_MAP_ABOVE)
    for model, rows in rec["results"].items():
        for m, r in rows.items():
            per = " → ".join(f"{max(a, b):.2f}" for a, b in zip(r["spearman"], r["spearman_abs"]))
            d = r.get("data_score", r["data_spearman"])
            data = "–" if d is None else f"{d:+.2f}" + (" **ignores it**" if d >= same else "")
            verdict = (f"pass ({r['passed_inputs']}/{r['n']})" if r["passed"]
                       else f"**fail** ({r['passed_inputs']}/{r['n']} inputs pass)")
            lines.append(f"| {model} | {m} | {r['score']:+.2f} | {verdict} | {per} | {data} | "
                         f"{r['seconds']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-text", type=int, default=len(TEXT_PAIRS))
    ap.add_argument("--n-images", type=int, default=4)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", help="write the table here (the app reads assets/sanity/sanity.json)")
    ap.add_argument("--md", help="also write the markdown table here")
    a = ap.parse_args(args)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if a.threads:
        import torch
        torch.set_num_threads(a.threads)
    # the code behind the figures: the files whose functions run for every method on one
    # input of each kind (a change to any of them makes the table stale in the app and tests)
    with sources_that_run(CODE) as files:
        run_text("minilm", 1, a.seed, log=lambda s: None)
        for model in scene_models():
            run_image(model, 1, a.seed, log=lambda s: None)
    at_start = code_snapshot(CODE, files)
    t0 = time.perf_counter()
    results = {"minilm": run_text("minilm", a.n_text, a.seed),
               **{model: run_image(model, a.n_images, a.seed) for model in scene_models()}}
    seconds = time.perf_counter() - t0
    params = {"seed": a.seed, "threshold": PASS_BELOW, "text_model": "minilm",
              "text_target": "cosine similarity to the second text (compare_to)",
              "text_inputs": [list(p) for p in TEXT_PAIRS[:a.n_text]],
              "image_models": list(scene_models()),
              "image_inputs": {m: f"pointing_scenes({a.n_images}, seed={SCENE_SEED}, "
                                  f"world={scenes == 'world'}) (two-object scenes, 64x64, the "
                                  "prompt names one object)" for m, scenes in scene_models().items()},
              "method_params": "each method's defaults", "data_randomisation": True,
              "data_threshold": SAME_MAP_ABOVE}
    prov = provenance("mminspect.lab.sanity_table", args, params=params, code=CODE,
                      files=files, at_start=at_start)
    rec = {"threshold": PASS_BELOW, "data_threshold": SAME_MAP_ABOVE, "seed": a.seed,
           "weights_sha256": bundled_weights(), "results": results,
           "modality": {"minilm": "text", **{m: "image" for m in scene_models()}},
           "seconds_total": round(seconds, 1), "command": prov["command"], "date": prov["date"],
           "provenance": prov, "probe": probe_record("sanity")}   # see api.shipped
    print(f"sanity table: {seconds:.0f} s")
    print(format_markdown(rec))
    if a.json:
        os.makedirs(os.path.dirname(a.json) or ".", exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(rec, f, indent=2)
            f.write("\n")
    if a.md:
        with open(a.md, "w") as f:
            f.write(f"<!-- written by: {prov['command']} on {prov['date']}, code "
                    f"{prov['code']['git_commit']} (sources sha256 {prov['code']['sha256']}) -->\n")
            f.write(format_markdown(rec) + "\n")


if __name__ == "__main__":
    main()
