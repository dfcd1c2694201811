"""Held-out figures of a fusion model:  python -m mminspect.lab.fusion_eval [--n 200]

Every figure is on world scenes from streams the training never draws (seed `EVAL_SEED`,
streams 1-4; training uses its own data seed):
- **matching**: per scene one true caption and one false one, alternately another scene's
  caption and the true caption with one naming word changed; accuracy over all pairs, and
  per kind;
- **masked colour**: a scene's caption with one shape's colour word blanked -> the colour;
- **masked object**: one shape or thing word blanked -> that word;
- **pointing**: two-object scenes; each object word's patch map (its attention to the patches,
  heads averaged) peaks on that object's exact mask, per layer; energy-in-mask beside it.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from ..explain.pointing import energy_in_mask, pointing_hit
from ..fusion import words as W
from ..fusion.data import masked_blanks, pad, world_scenes
from ..fusion.model import FusionModel
from ..miniclip.model import to_pixels
from ..models.clip_base import PatchGrid

EVAL_SEED = 5100
TARGETS = {"matching": 0.95, "masked_colour": 0.90, "masked_object": 0.85}


def _run(model: FusionModel, images: list[np.ndarray], captions: list[list[str]], attentions=False):
    device = next(model.parameters()).device
    ids, keep = pad(captions, model.cfg.max_words)
    with torch.no_grad():
        return model(to_pixels(np.stack(images)).to(device), ids.to(device), keep.to(device),
                     return_attentions=attentions)


def matching(model: FusionModel, n: int) -> dict:
    scenes = list(world_scenes(EVAL_SEED, n + 1, stream=1))
    images, captions, labels, kinds = [], [], [], []
    for i, (rng, s) in enumerate(scenes[:n]):
        c = W.caption(s.things, rng)
        false = (W.caption(scenes[i + 1][1].things, rng) if i % 2 == 0
                 else W.wrong_word(c, s.things, rng))
        for cap, label, kind in ((c, 1, "true"), (false, 0, "other scene" if i % 2 == 0 else "one word changed")):
            images.append(s.image)
            captions.append(list(cap.tokens))
            labels.append(label)
            kinds.append(kind)
    pred = np.concatenate([_run(model, images[k:k + 128], captions[k:k + 128])[0].argmax(-1).cpu().numpy()
                           for k in range(0, len(images), 128)])
    right = pred == np.array(labels)
    kinds = np.array(kinds)
    return {"matching": float(right.mean()),
            **{f"matching, {k}": float(right[kinds == k].mean()) for k in ("true", "other scene", "one word changed")}}


def masked(model: FusionModel, n: int, roles: tuple[str, ...], stream: int) -> float:
    images, captions, spots, answers = masked_blanks(EVAL_SEED, n, roles, stream)
    logits = _run(model, images, captions)[1]                    # [row, word, vocab]
    pred = logits[torch.arange(len(spots)), torch.tensor(spots)].argmax(-1).cpu().numpy()
    return float((pred == np.array(answers)).mean())


def pointing(model: FusionModel, n: int) -> dict:
    """Per layer: the share of object words (shape or thing) whose heads-averaged patch map
    peaks on the object, and the mean energy-in-mask."""
    cfg = model.cfg
    grid = PatchGrid(rows=cfg.grid, cols=cfg.grid, patch_size=cfg.patch,
                     image_size=(cfg.image_size, cfg.image_size), has_cls=False)
    images, captions, scenes = [], [], []
    for rng, s in world_scenes(EVAL_SEED, n, stream=4, n_objects=2):
        images.append(s.image)
        captions.append(W.caption(s.things, rng))
        scenes.append(s)
    attns = _run(model, images, [list(c.tokens) for c in captions], attentions=True)[2]
    hits, energy = [[] for _ in range(cfg.depth)], [[] for _ in range(cfg.depth)]
    n_text = max(len(c.tokens) for c in captions) + 1        # the batch's padded text: patches follow it
    for r, (c, s) in enumerate(zip(captions, scenes)):
        for pos in W.content_positions(c, "shape") + W.content_positions(c, "thing"):
            mask = s.masks[c.objects[pos]]
            for layer, a in enumerate(attns):
                m = a[r, :, pos + 1, n_text:n_text + cfg.grid ** 2].mean(0).cpu().numpy()
                m = m.reshape(cfg.grid, cfg.grid)                # [rows, cols]
                hits[layer].append(pointing_hit(m, mask, grid))
                energy[layer].append(energy_in_mask(m, mask, grid))
    return {"pointing_by_layer": [float(np.mean(h)) for h in hits],
            "energy_by_layer": [float(np.mean(e)) for e in energy],
            "pointing_words": len(hits[0])}


def evaluate(model: FusionModel, n: int = 200) -> dict:
    model.eval()
    out = matching(model, n)
    out["masked_colour"] = masked(model, n, ("colour",), stream=2)
    out["masked_object"] = masked(model, n, ("shape", "thing"), stream=3)
    out |= pointing(model, n)
    best = int(np.argmax(out["pointing_by_layer"]))
    out["pointing_best_layer"], out["pointing"] = best, out["pointing_by_layer"][best]
    out["n"] = n
    return out


def format_metrics(m: dict) -> str:
    pct = lambda x: f"{100 * x:.1f} %"                            # noqa: E731
    lines = [f"held-out (n = {m['n']} per figure, seed {EVAL_SEED}):",
             f"  matching {pct(m['matching'])} (true {pct(m['matching, true'])}, other scene "
             f"{pct(m['matching, other scene'])}, one word changed {pct(m['matching, one word changed'])})",
             f"  masked colour {pct(m['masked_colour'])}, masked object {pct(m['masked_object'])}",
             "  pointing by layer " + ", ".join(pct(x) for x in m["pointing_by_layer"])
             + f" (best layer {m['pointing_best_layer']}); energy-in-mask by layer "
             + ", ".join(f"{x:.2f}" for x in m["energy_by_layer"])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    a = ap.parse_args(argv)
    from ..models.registry import load
    print(format_metrics(evaluate(load("fusion").model, a.n)))


if __name__ == "__main__":
    main()
