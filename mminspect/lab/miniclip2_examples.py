"""Render mini-CLIP 2's example scenes for the app, once, into assets/miniclip2 (the app then
needs no emoji font):  python -m mminspect.lab.miniclip2_examples [--out assets/miniclip2]

Which scenes: for the k-th `KINDS` rule, the first scene of held-out stream
`EXAMPLE_SEED + k` (never used in training, data seed 2, or evaluation, seeds 3000-3004) that
fits the rule, chosen by what the
scene holds, never by how the model does on it. Prompts: each object's canonical phrase
("a cat", "a red star"), then distractors: for a shape, the same shape in another colour;
for an everyday thing, another thing from another group. Masks are each object's visible
pixels, so the app can score any map's peak on them (pointing).

Writes examples.npz (images uint8 [example, H, W, 3], masks bool [example, object, H, W])
and examples.json (title, prompts, the prompt each mask belongs to, background, recipe).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..miniclip.everyday import CATEGORIES, all_emoji, group_of, name_of
from ..miniclip.scenes import COLOURS, scene_rng
from ..miniclip.world import render_world
from ..miniclip.world_captions import object_phrase
from ..models.assets import asset_dir
from .provenance import command_line

EXAMPLE_SEED = 4343
# name -> (what the scene must hold, number of objects)
KINDS = {
    "two everyday things": (lambda s: all(t.kind == "everyday" for t in s.things), 2),
    "a thing and a shape": (lambda s: {t.kind for t in s.things} == {"everyday", "shape"}, 2),
    "two shapes on a tinted background": (
        lambda s: all(t.kind == "shape" for t in s.things) and s.tinted
        and len({t.colour for t in s.things}) == 2 and len({t.name for t in s.things}) == 2, 2),
    "three objects on a patterned background": (
        lambda s: s.background != "flat" and any(t.kind == "everyday" for t in s.things), 3),
}


def distractors(things, rng: np.random.Generator) -> list[str]:
    """One wrong prompt per object, none twice: a shape in a colour no object has; an
    everyday thing from a group no object is in."""
    out = []
    used_colours = {t.colour for t in things}
    used_groups = {group_of(t.emoji) for t in things if t.kind == "everyday"}
    for t in things:
        if t.kind == "shape":
            colour = str(rng.choice([c for c in COLOURS if c not in used_colours]))
            used_colours.add(colour)
            out.append(object_phrase(replace(t, colour=colour)))
        else:
            emoji = str(rng.choice([e for e in all_emoji() if group_of(e) not in used_groups]))
            used_groups.add(group_of(emoji))
            out.append(object_phrase(replace(t, name=name_of(emoji), emoji=emoji)))
    return out


def render_examples(size: int = 64) -> tuple[list[dict], np.ndarray, np.ndarray]:
    records, images, masks = [], [], []
    width = max(n for _, n in KINDS.values())
    for k, (kind, (want, n)) in enumerate(KINDS.items()):
        i = 0
        while True:     # a stream per rule, so two rules do not start from the same draws
            s = render_world(scene_rng(EXAMPLE_SEED + k, i), size, n_objects=n)
            if want(s):
                break
            i += 1
        named = [object_phrase(t) for t in s.things]
        wrong = distractors(s.things, np.random.default_rng([EXAMPLE_SEED + k, 1, i]))
        listed = ", ".join(named[:-1]) + " and " + named[-1]
        records.append({"title": f"mini-CLIP 2 · {listed}", "kind": kind,
                        "seed": EXAMPLE_SEED + k, "index": i, "prompts": named + wrong, "mask_prompts": named,
                        "background": s.background, "tinted": s.tinted})
        images.append(s.image)
        pad = np.zeros((width - n, size, size), bool)                       # [pad, H, W]
        masks.append(np.concatenate([s.masks, pad]))
    return records, np.stack(images), np.stack(masks)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=asset_dir("miniclip2"))
    a = ap.parse_args(args)
    records, images, masks = render_examples()
    a.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(a.out / "examples.npz", images=images, masks=masks)
    (a.out / "examples.json").write_text(json.dumps({
        "examples": records, "seed": EXAMPLE_SEED, "rules": list(KINDS),
        "everyday_groups": list(CATEGORIES),
        "command": command_line("mminspect.lab.miniclip2_examples", args)}, indent=2) + "\n")
    for r in records:
        print(f"{r['title']}  ({r['kind']}: seed {r['seed']}, scene {r['index']}, {r['background']})")


if __name__ == "__main__":
    main()
