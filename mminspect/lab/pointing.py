"""The pointing game (Zhang et al. 2016) and energy-in-mask on mini-CLIP scenes, where we
know every object's pixels:  python -m mminspect.lab.pointing [--n 200] [--methods relevance,...]

For each held-out two-object scene, one object is named ("a red circle") and each map is
computed for that prompt with the method's own defaults, the ones the app's "Every method"
table runs (override with --params '{"integrated_gradients": {"n_steps": 16}}'; the record
keeps whatever was used). A hit: the map's peak patch touches the named object's mask
(`explain.pointing.pointing_hit`). `chance` is the share of patches that touch the mask:
what a random peak would score. Energy-in-mask (`explain.pointing.energy_in_mask`): the share
of the map's positive mass on the named object, averaged over scenes; `energy_chance` is the
mean share of the image the object covers (what a uniform map scores).

Scenes come from `POINTING_SEED`, which neither training (data seeds 1 and 2) nor the
models' own evaluations (seeds 1000-1003, 3000-3004) use: mini-CLIP 1's flat scenes for
"miniclip", mini-CLIP 2's world (any background, shapes and everyday things, overlapping; the
mask is what stays visible) for "miniclip2" (`--scenes` overrides). `--json` writes the table
with its provenance (command, parameters, package versions, the SHA-256 of every source file
whose functions ran, machine); the app shows assets/<model>/pointing.json for the model in
use and marks it stale when the weights or one of those files change.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from ..explain.image_methods import IMAGE_METHODS, compute
from ..explain.pointing import energy_in_mask, mask_fraction, mask_patches, pointing_hit
from ..miniclip.captions import article
from ..miniclip.scenes import scene, scene_rng
from ..miniclip.world import render_world
from ..miniclip.world_captions import object_phrase
from ..models import load, miniclip_adapter
from ..models.clip_base import CLIPAdapter
from ..models.registry import scene_models
from ..api.shipped import probe_record
from .provenance import code_snapshot, provenance, sources_that_run

POINTING_SEED = 2024
TARGETS = {"relevance": 0.80}
# The code whose change makes a shipped table stale: files in these folders whose functions ran.
CODE = ("mminspect/lab/pointing.py", "mminspect/explain", "mminspect/models",
        "mminspect/capture", "mminspect/miniclip", "mminspect/types")


def pointing_scenes(n: int, seed: int = POINTING_SEED, size: int = 64, world: bool = False):
    """[(image uint8 [H, W, 3], prompt, mask bool [H, W])]: two-object scenes, the named object
    alternating between the first and second drawn. world: mini-CLIP 2's world (any
    background, shapes and everyday things, overlapping; the mask is what stays visible)
    instead of mini-CLIP 1's flat scenes."""
    out = []
    for i in range(n):
        k = i % 2
        if world:
            s = render_world(scene_rng(seed, i), size, n_objects=2)
            out.append((s.image, object_phrase(s.things[k]), s.masks[k]))
            continue
        s = scene(seed, i, n_objects=2, size=size)
        o = s.objects[k]
        out.append((s.image, article(f"{o.colour} {o.shape}"), s.masks[k]))
    return out


def method_params(methods, params: dict | None = None) -> dict:
    """{method: its parameters, defaults filled in}: what a run uses and its record shows."""
    return {m: IMAGE_METHODS[m].resolve((params or {}).get(m, {})) for m in methods}


def pointing_game(adapter: CLIPAdapter, n: int = 200, methods=None, seed: int = POINTING_SEED,
                  params: dict | None = None, world: bool = False) -> dict:
    """{method: {"hit_rate", "energy", "n", "seconds"}} plus "chance" and "energy_chance",
    over `n` scenes. `params`: {method: {name: value}} overrides; absent ones run at the
    method's defaults."""
    methods = list(methods or IMAGE_METHODS)
    used = method_params(methods, params)
    g = adapter.patch_grid
    size = g.image_size[0]
    hits = {m: [] for m in methods}
    energy = {m: [] for m in methods}
    secs = {m: 0.0 for m in methods}
    chance, energy_chance = [], []
    for image, prompt, mask in pointing_scenes(n, seed, size, world):
        pixels = adapter.preprocess([image])
        enc = adapter.tokenize(prompt)
        chance.append(mask_patches(mask, g).mean())
        energy_chance.append(mask_fraction(mask, g).mean())
        for m in methods:
            t = time.perf_counter()
            out = compute(adapter, pixels, [enc], m, used[m])
            secs[m] += time.perf_counter() - t
            hits[m].append(pointing_hit(out.patch_scores, mask, g))
            energy[m].append(energy_in_mask(out.patch_scores, mask, g))
    res = {m: {"hit_rate": float(np.mean(hits[m])), "energy": float(np.mean(energy[m])),
               "n": n, "seconds": secs[m] / max(n, 1)} for m in methods}
    res["chance"] = float(np.mean(chance))
    res["energy_chance"] = float(np.mean(energy_chance))
    return res


CHANCE_KEYS = ("chance", "energy_chance")


def format_table(res: dict) -> str:
    lines = [f"{'method':<24}{'hit rate':>10}{'energy':>9}{'target':>9}{'ms/map':>9}",
             f"{'(random peak / uniform)':<24}{100 * res['chance']:>9.1f}%"
             + (f"{100 * res['energy_chance']:>8.1f}%" if "energy_chance" in res else "")]
    for m, r in res.items():
        if m in CHANCE_KEYS:
            continue
        tgt = f"{100 * TARGETS[m]:.0f}%" if m in TARGETS else ""
        en = f"{100 * r['energy']:>8.1f}%" if "energy" in r else f"{'':>9}"
        lines.append(f"{m:<24}{100 * r['hit_rate']:>9.1f}%{en}{tgt:>9}{1e3 * r['seconds']:>9.0f}")
    return "\n".join(lines)


def record(adapter: CLIPAdapter, model: str, n: int, seed: int, methods, params: dict | None,
           res: dict, seconds: float, args, files: list[str] | None = None,
           code_at_start: dict | None = None, world: bool = False) -> dict:
    """The shipped table: figures, parameters, weights hash and provenance."""
    weights = None
    if model in scene_models():
        folder = miniclip_adapter.bundled_dir(f"bundled:{model}")
        weights = miniclip_adapter.read_card(folder)["weights"]["sha256"]
    used = method_params(methods, params)
    scenes = "world" if world else "shapes"
    prov = provenance("mminspect.lab.pointing", args, code=CODE, device=adapter.device,
                      params={"model": model, "n": n, "seed": seed, "scenes": scenes,
                              "methods": list(methods), "method_params": used},
                      files=files, at_start=code_at_start)
    return {"model": model, "n": n, "seed": seed, "scenes": scenes, "params": used, "results": res,
            "weights_sha256": weights, "seconds_total": round(seconds, 1),
            "command": prov["command"], "date": prov["date"], "provenance": prov,
            # a fixed piece of the same work and its figures: the app re-runs it after a
            # code change and calls the table stale only if a figure moved (api.shipped)
            "probe": probe_record(f"pointing:{model}") if weights else None}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=POINTING_SEED)
    ap.add_argument("--methods", default=",".join(IMAGE_METHODS))
    ap.add_argument("--params", type=json.loads, default=None,
                    help='JSON overrides of method parameters (default: each method\'s own)')
    ap.add_argument("--model", default="miniclip")
    ap.add_argument("--scenes", choices=("auto", "shapes", "world"), default="auto",
                    help="mini-CLIP 1's flat scenes or mini-CLIP 2's world (auto: the model's own)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", help="also write the table here (the app shows "
                    "assets/<model>/pointing.json for the bundled mini-CLIPs)")
    a = ap.parse_args(args)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if a.threads:
        import torch
        torch.set_num_threads(a.threads)
    adapter = load(a.model)
    methods = a.methods.split(",")
    world = (a.scenes if a.scenes != "auto" else scene_models().get(a.model, "shapes")) == "world"
    # The code behind the figures: the files whose functions run on one scene with every
    # method (the same paths run for every scene). Traced apart from the timed game.
    with sources_that_run(CODE) as files:
        pointing_game(adapter, 1, methods, a.seed, a.params, world)
    code_at_start = code_snapshot(CODE, files)
    t0 = time.perf_counter()
    res = pointing_game(adapter, a.n, methods, a.seed, a.params, world)
    seconds = time.perf_counter() - t0
    print(f"pointing game: {a.model}, {a.n} two-object {'world' if world else 'shape'} scenes, "
          f"seed {a.seed}, {seconds:.0f} s")
    print("parameters: " + json.dumps(method_params(methods, a.params)))
    print(format_table(res))
    if a.json:
        rec = record(adapter, a.model, a.n, a.seed, methods, a.params, res, seconds, args,
                     files, code_at_start, world)
        with open(a.json, "w") as f:
            json.dump(rec, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
