"""Held-out figures of the captioner:  python -m mminspect.lab.caption_eval [--n 200]

Every figure is on two-object world scenes of a seed the training never draws (`EVAL_SEED`,
stream 1); the caption is the model's own greedy caption (no teacher forcing):
- **names every object**: share of scenes whose caption names both objects (shape or thing name);
- **colours right**: share of scenes with a coloured shape whose caption gives every shape
  with its right colour word right before it;
- **exact**: the caption names exactly the scene's objects (colours included), nothing else;
- **pointing**: each written object word (shape or thing) that names an object of the scene:
  its cross-attention map at the step that wrote it (heads averaged), per decoder layer, peaks
  on a patch the object's exact mask touches; energy-in-mask beside it. The same for colour words.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from ..explain.pointing import energy_in_mask, pointing_hit
from ..fusion import words as W
from ..fusion.caption import START, CaptionModel, caption_ids, named_objects, scores  # noqa: F401 (named_objects: read by tests)
from ..fusion.data import world_scenes
from ..miniclip.model import to_pixels
from ..models.clip_base import PatchGrid

EVAL_SEED = 5200
TARGETS = {"names_every_object": 0.85, "colours_right": 0.85, "pointing": 0.80}


def scene_grid(cfg) -> PatchGrid:
    return PatchGrid(rows=cfg.grid, cols=cfg.grid, patch_size=cfg.patch,
                     image_size=(cfg.image_size, cfg.image_size), has_cls=False)


def word_object(words: list[str], i: int, things) -> int | None:
    """The scene object the word at i names (a colour word: the shape after it), or None."""
    role = W.role_of(words[i])
    if role == "colour":
        if i + 1 >= len(words) or W.role_of(words[i + 1]) != "shape":
            return None
        colour, name = words[i], words[i + 1]
    elif role == "shape":
        colour, name = (words[i - 1] if i > 0 else None), words[i]
    elif role == "thing":
        colour, name = None, words[i]
    else:
        return None
    exact = [k for k, t in enumerate(things) if t.name == name and t.colour == colour]
    loose = [k for k, t in enumerate(things) if t.name == name]
    return (exact or loose or [None])[0]


def evaluate(model: CaptionModel, n: int = 200) -> dict:
    model.eval()
    cfg, grid = model.cfg, scene_grid(model.cfg)
    scenes = [s for _, s in world_scenes(EVAL_SEED, n, size=cfg.image_size, stream=1, n_objects=2)]
    device = next(model.parameters()).device
    pixels = to_pixels(np.stack([s.image for s in scenes])).to(device)
    captions = model.generate(pixels)
    per = [scores(c, s.things) for c, s in zip(captions, scenes)]
    out = {k: float(np.mean([p[k] for p in per if p[k] is not None])) for k in ("names_every_object", "exact")}
    col = [p["colours_right"] for p in per if p["colours_right"] is not None]
    out["colours_right"], out["colour_scenes"] = float(np.mean(col)), len(col)
    hits = {r: [[] for _ in range(cfg.depth)] for r in ("object", "colour")}
    energy = {r: [[] for _ in range(cfg.depth)] for r in ("object", "colour")}
    mem = model.memory(pixels)
    for r, (words, s) in enumerate(zip(captions, scenes)):
        ids = torch.tensor([caption_ids([START, *words])], device=device)
        with torch.no_grad():
            crosses = model.decode(ids, mem[r:r + 1], return_attentions=True)[2]
        for i, w in enumerate(words):
            k = word_object(words, i, s.things)
            role = W.role_of(w)
            if k is None or role is None:
                continue
            kind = "colour" if role == "colour" else "object"
            for layer, a in enumerate(crosses):
                m = a[0, :, i].mean(0).cpu().numpy().reshape(cfg.grid, cfg.grid)   # step i wrote word i
                hits[kind][layer].append(pointing_hit(m, s.masks[k], grid))
                energy[kind][layer].append(energy_in_mask(m, s.masks[k], grid))
    for kind, prefix in (("object", "pointing"), ("colour", "pointing_colour")):
        out[f"{prefix}_by_layer"] = [float(np.mean(h)) if h else 0.0 for h in hits[kind]]
        out[f"{prefix.replace('pointing', 'energy')}_by_layer"] = [float(np.mean(e)) if e else 0.0
                                                                   for e in energy[kind]]
        out[f"{prefix}_words"] = len(hits[kind][0])
    out["pointing_last_layer"] = out["pointing_by_layer"][-1]
    best = int(np.argmax(out["pointing_by_layer"]))
    out["pointing_best_layer"], out["pointing"] = best, out["pointing_by_layer"][best]
    out["n"] = n
    out["examples"] = [" ".join(c) for c in captions[:5]]
    return out


def format_metrics(m: dict) -> str:
    pct = lambda x: f"{100 * x:.1f} %"                            # noqa: E731
    return "\n".join([
        f"held-out two-object scenes (n = {m['n']}, seed {EVAL_SEED}):",
        f"  names every object {pct(m['names_every_object'])}, colours right {pct(m['colours_right'])}"
        f" (of {m['colour_scenes']} scenes with a shape), exact {pct(m['exact'])}",
        "  pointing (object words) by layer " + ", ".join(pct(x) for x in m["pointing_by_layer"])
        + f" (best layer {m['pointing_best_layer']}; {m['pointing_words']} words); energy "
        + ", ".join(f"{x:.2f}" for x in m["energy_by_layer"]),
        "  pointing (colour words) by layer " + ", ".join(pct(x) for x in m["pointing_colour_by_layer"]),
        "  e.g. " + " | ".join(m["examples"][:3])])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    a = ap.parse_args(argv)
    from ..models.registry import load
    print(format_metrics(evaluate(load("fusion-caption").model, a.n)))


if __name__ == "__main__":
    main()
