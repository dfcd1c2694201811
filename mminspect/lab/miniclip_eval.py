"""Evaluate mini-CLIP on held-out scenes:  python -m mminspect.lab.miniclip_eval

Held-out scenes come from `EVAL_SEED`, a seed training never uses (training draws its layouts
and renders from `data_seed` with a different generator key). Figures:
- zero-shot shape / colour / position on single-object scenes: each class is the mean
  embedding of prompts over every value of the other attributes ("a red circle", "a blue
  circle", ...), the image picks the closest class;
- image->text R@1 among `n_retrieval` captions of scenes with 1-3 objects (a pick counts if
  its caption text equals the true one: short captions like "a red circle" can repeat);
- patch pointing: whether the raw patch-text similarity map peaks on the named object;
- swapped bindings, a known weakness of CLIP-style models: on two-object scenes with two
  colours and two shapes, how often "a red circle and a blue square" scores above "a blue
  circle and a red square" (chance 50 %), and the same for the relation ("a above b" vs
  "b above a").
Works on any `CLIPAdapter`. `--card assets/miniclip/card.json` writes the figures into the
model card with their provenance (`metrics`, `metrics_provenance`).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from ..miniclip.captions import (article, caption, position_prompts, relations,
                                 shape_colour_prompts, swapped_pair)
from ..miniclip.scenes import COLOURS, POSITIONS, SHAPES, render, sample_layout, scene, scene_rng
from ..models import load
from .provenance import code_snapshot, provenance

EVAL_SEED = 1000
# The code whose modules that ran are hashed into the card's metrics_provenance.
CODE = ("mminspect/lab/miniclip_eval.py", "mminspect/miniclip", "mminspect/models", "mminspect/types")
TARGETS = {"shape": 0.95, "colour": 0.95, "position": 0.90, "retrieval_r1": 0.75}


def _classes(emb: torch.Tensor, keys: list, order: tuple) -> torch.Tensor:
    """Mean of unit prompt embeddings per class, renormalised: [class, embed]."""
    out = torch.stack([emb[[i for i, k in enumerate(keys) if k == c]].mean(0) for c in order])
    return torch.nn.functional.normalize(out, dim=-1)


def _images(adapter, images: list[np.ndarray]) -> torch.Tensor:
    return adapter.encode_image(adapter.preprocess(images))     # [image, embed]


def zero_shot(adapter, seed: int = EVAL_SEED, n: int = 300) -> dict:
    scenes = [scene(seed, i, n_objects=1) for i in range(n)]
    img = _images(adapter, [s.image for s in scenes])                # [image, embed]
    sc = shape_colour_prompts()
    t = adapter.encode_text([p for _, _, p in sc])                   # [shape*colour, embed]
    pp = position_prompts()
    tp = adapter.encode_text([p for _, p in pp])                     # [pos*shape*colour, embed]
    out = {}
    for name, emb, keys, order, truth in [
        ("shape", t, [s for s, _, _ in sc], SHAPES, [s.objects[0].shape for s in scenes]),
        ("colour", t, [c for _, c, _ in sc], COLOURS, [s.objects[0].colour for s in scenes]),
        ("position", tp, [p for p, _ in pp], POSITIONS, [s.objects[0].position for s in scenes])]:
        pred = (img @ _classes(emb, keys, order).T).argmax(1)       # [image]
        out[name] = float(np.mean([order[int(k)] == g for k, g in zip(pred, truth)]))
    return out


def retrieval(adapter, seed: int = EVAL_SEED + 1, n: int = 100) -> dict:
    caps, images = [], []
    for i in range(n):
        rng = scene_rng(seed, i)
        lay = sample_layout(rng)
        caps.append(caption(lay, rng))
        images.append(render(lay, rng).image)
    sim = _images(adapter, images) @ adapter.encode_text(caps).T     # [image, text]
    i2t = [caps[int(j)] == caps[i] for i, j in enumerate(sim.argmax(1))]
    t2i = [caps[int(j)] == caps[i] for i, j in enumerate(sim.argmax(0))]
    return {"retrieval_r1": float(np.mean(i2t)), "retrieval_t2i_r1": float(np.mean(t2i)),
            "retrieval_unique_captions": len(set(caps))}


def swapped(adapter, seed: int = EVAL_SEED + 2, n: int = 200) -> dict:
    images, pairs, rel_pairs, i = [], [], [], 0
    while len(images) < n:
        rng = scene_rng(seed, i)
        i += 1
        lay = sample_layout(rng, n_objects=2)
        a, b = lay
        if a.colour == b.colour or a.shape == b.shape:
            continue                                  # swapping would not change the scene
        images.append(render(lay, rng).image)
        pairs.append(swapped_pair(a, b))
        rel = {"above": "above", "below": "below", "left": "to the left of",
               "right": "to the right of"}[relations(a, b)[0]]
        na, nb = article(f"{a.colour} {a.shape}"), article(f"{b.colour} {b.shape}")
        rel_pairs.append((f"{na} {rel} {nb}", f"{nb} {rel} {na}"))
    img = _images(adapter, images)                                   # [image, embed]
    out = {}
    for name, ps in [("swapped_colours", pairs), ("swapped_relation", rel_pairs)]:
        true = adapter.encode_text([p[0] for p in ps])               # [image, embed]
        swap = adapter.encode_text([p[1] for p in ps])               # [image, embed]
        out[name] = float(((img * true).sum(1) > (img * swap).sum(1)).float().mean())
    return out


def pointing(adapter, seed: int = EVAL_SEED + 3, n: int = 100) -> dict:
    """How often the patch most similar to "a <colour> <shape>" (cosine of the projected patch
    features with the text) lies on the object, on single-object scenes. A check of the raw
    patch-text map, not of any explainer; chance is the object's share of patches."""
    scenes = [scene(seed, i, n_objects=1) for i in range(n)]
    prompts = sorted({article(f"{s.objects[0].colour} {s.objects[0].shape}") for s in scenes})
    txt = dict(zip(prompts, adapter.encode_text(prompts)))          # prompt -> [embed]
    g = adapter.patch_grid
    hits, chance = [], []
    for s in scenes:
        o = s.objects[0]
        out = adapter.image_forward(adapter.preprocess([s.image]))
        sim = torch.nn.functional.normalize(out.patch_features, dim=-1) @ \
            txt[article(f"{o.colour} {o.shape}")]                      # [patch]
        on = s.masks[0].reshape(g.rows, g.patch_size, g.cols, g.patch_size).any((1, 3))  # [rows, cols]
        hits.append(bool(on.reshape(-1)[int(sim.argmax())]))
        chance.append(on.mean())
    return {"patch_pointing": float(np.mean(hits)), "patch_pointing_chance": float(np.mean(chance))}


def evaluate(adapter, seed: int = EVAL_SEED, n_single: int = 300, n_retrieval: int = 100,
             n_swap: int = 200, n_pointing: int = 100) -> dict:
    m = {}
    m.update(zero_shot(adapter, seed, n_single))
    m.update(retrieval(adapter, seed + 1, n_retrieval))
    m.update(swapped(adapter, seed + 2, n_swap))
    m.update(pointing(adapter, seed + 3, n_pointing))
    m = {k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()}
    m["eval"] = {"seed": seed, "n_single": n_single, "n_retrieval": n_retrieval, "n_swap": n_swap,
                 "n_pointing": n_pointing}
    return m


def format_metrics(m: dict) -> str:
    lines = []
    for k in ("shape", "colour", "position", "retrieval_r1"):
        ok = "ok" if m[k] >= TARGETS[k] else "BELOW TARGET"
        lines.append(f"{k:>24}: {100 * m[k]:5.1f} %   (target >= {100 * TARGETS[k]:.0f} %, {ok})")
    lines.append(f"{'retrieval_t2i_r1':>24}: {100 * m['retrieval_t2i_r1']:5.1f} %")
    for k in ("swapped_colours", "swapped_relation"):
        lines.append(f"{k:>24}: {100 * m[k]:5.1f} %   (true caption above the swapped one; "
                     "chance 50 %)")
    if "patch_pointing" in m:
        lines.append(f"{'patch_pointing':>24}: {100 * m['patch_pointing']:5.1f} %   (argmax of the raw "
                     f"patch-text cosine on the object; chance {100 * m['patch_pointing_chance']:.1f} %)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=EVAL_SEED)
    ap.add_argument("--n-single", type=int, default=300)
    ap.add_argument("--n-retrieval", type=int, default=100)
    ap.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ap.add_argument("--card", type=Path, default=None,
                    help="write the metrics and their provenance into this model card")
    a = ap.parse_args(args)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    adapter = load("miniclip")
    at_start = code_snapshot(CODE)
    m = evaluate(adapter, a.seed, a.n_single, a.n_retrieval)
    print(json.dumps(m, indent=2) if a.json else format_metrics(m))
    if a.card:
        card = json.loads(a.card.read_text())
        card["metrics"] = m
        card["metrics_provenance"] = provenance(
            "mminspect.lab.miniclip_eval", args, params={"model": "miniclip", **m["eval"]},
            code=CODE, device=adapter.device, at_start=at_start)
        a.card.write_text(json.dumps(card, indent=2) + "\n")


if __name__ == "__main__":
    main()
