"""The pointing game (Zhang et al. 2016) on mini-CLIP scenes, where we know every object's
pixels:  python -m mminspect.explain.pointing [--n 200] [--methods relevance,rollout,...]

For each held-out two-object scene, one object is named ("a red circle") and each map is
computed for that prompt. A hit: the map's peak patch contains pixels of the named object's
mask. Every map is compared at the patch grid (pixel maps are summed per patch first), so a
pixel method is not penalised for a one-pixel peak beside a small object. `chance` is the
share of patches that touch the mask: what a random peak would score.

Scenes come from `POINTING_SEED`, which neither training (data seed 1) nor mini-CLIP's own
evaluation (seeds 1000-1002) uses.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from ..miniclip.captions import article
from ..miniclip.scenes import scene
from ..models.clip_base import CLIPAdapter, PatchGrid
from .image_methods import IMAGE_METHODS, compute

POINTING_SEED = 2024
TARGETS = {"relevance": 0.80}
QUICK_PARAMS = {"integrated_gradients": {"n_steps": 16}, "gradient_shap": {"n_samples": 8}}


def mask_patches(mask: np.ndarray, grid: PatchGrid) -> np.ndarray:
    """bool [H, W] at the model's input size -> bool [rows, cols]: patches touching the mask."""
    p = grid.patch_size
    m = np.asarray(mask, bool)[:grid.rows * p, :grid.cols * p]
    return m.reshape(grid.rows, p, grid.cols, p).any((1, 3))


def pointing_hit(patch_scores: np.ndarray, mask: np.ndarray, grid: PatchGrid) -> bool:
    """The peak patch of the map touches the mask (ties: the first in row-major order)."""
    touched = mask_patches(mask, grid)                            # [rows, cols]
    peak = np.unravel_index(int(np.argmax(patch_scores)), patch_scores.shape)
    return bool(touched[peak])


def pointing_scenes(n: int, seed: int = POINTING_SEED, size: int = 64):
    """[(image uint8 [H, W, 3], prompt, mask bool [H, W])]: two-object scenes, the named object
    alternating between the first and second drawn."""
    out = []
    for i in range(n):
        s = scene(seed, i, n_objects=2, size=size)
        k = i % 2
        o = s.objects[k]
        out.append((s.image, article(f"{o.colour} {o.shape}"), s.masks[k]))
    return out


def pointing_game(adapter: CLIPAdapter, n: int = 200, methods=None, seed: int = POINTING_SEED,
                  params: dict | None = None) -> dict:
    """{method: {"hit_rate", "n", "seconds"}} plus "chance", over `n` scenes."""
    methods = list(methods or IMAGE_METHODS)
    params = QUICK_PARAMS if params is None else params
    g = adapter.patch_grid
    size = g.image_size[0]
    hits = {m: [] for m in methods}
    secs = {m: 0.0 for m in methods}
    chance = []
    for image, prompt, mask in pointing_scenes(n, seed, size):
        pixels = adapter.preprocess([image])
        enc = adapter.tokenize(prompt)
        chance.append(mask_patches(mask, g).mean())
        for m in methods:
            t = time.perf_counter()
            out = compute(adapter, pixels, [enc], m, params.get(m, {}))
            secs[m] += time.perf_counter() - t
            hits[m].append(pointing_hit(out.patch_scores, mask, g))
    res = {m: {"hit_rate": float(np.mean(hits[m])), "n": n, "seconds": secs[m] / max(n, 1)}
           for m in methods}
    res["chance"] = float(np.mean(chance))
    return res


def format_table(res: dict) -> str:
    lines = [f"{'method':<24}{'hit rate':>10}{'target':>9}{'ms/map':>9}",
             f"{'(random peak)':<24}{100 * res['chance']:>9.1f}%"]
    for m, r in res.items():
        if m == "chance":
            continue
        tgt = f"{100 * TARGETS[m]:.0f}%" if m in TARGETS else ""
        lines.append(f"{m:<24}{100 * r['hit_rate']:>9.1f}%{tgt:>9}{1e3 * r['seconds']:>9.0f}")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=POINTING_SEED)
    ap.add_argument("--methods", default=",".join(IMAGE_METHODS))
    ap.add_argument("--model", default="miniclip")
    ap.add_argument("--json", help="also write the table here (the app shows assets/miniclip/pointing.json)")
    a = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ..models import load
    adapter = load(a.model)
    res = pointing_game(adapter, a.n, a.methods.split(","), a.seed)
    print(f"pointing game: {a.model}, {a.n} two-object scenes, seed {a.seed}")
    print(format_table(res))
    if a.json:
        import json
        from ..models.miniclip_adapter import MINICLIP_DIR, read_card
        card = read_card(MINICLIP_DIR) if a.model == "miniclip" else {}
        record = {"model": a.model, "n": a.n, "seed": a.seed, "results": res,
                  "weights_sha256": card.get("weights", {}).get("sha256"),
                  "command": f"python -m mminspect.explain.pointing --n {a.n} --json {a.json}"}
        with open(a.json, "w") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
