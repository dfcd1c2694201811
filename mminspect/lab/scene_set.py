"""Write the bundled scene set for image dataset mode (assets/datasets/scenes/).

    python -m mminspect.lab.scene_set            # same seed, same files

Two-object scenes, the same scenes the pointing game (lab/pointing.py) scores: mini-CLIP 2's
world (assets/datasets/scenes/) and mini-CLIP 1's flat scenes (assets/datasets/scenes_flat/): one object is named in the prompt and its exact mask (the pixels
that stay visible) is saved beside the image, so pointing and energy-in-mask can be measured
over the set. images.csv records the recipe in its `recipe` column's first row.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .pointing import POINTING_SEED, pointing_scenes

N_SCENES = 40
SIZE = 64
DATASETS = Path(__file__).resolve().parents[2] / "assets" / "datasets"
FOLDERS = {True: "scenes", False: "scenes_flat"}        # world=True: mini-CLIP 2's world


def recipe(n: int = N_SCENES, seed: int = POINTING_SEED, size: int = SIZE,
           world: bool = True) -> dict:
    return {"made_by": "python -m mminspect.lab.scene_set",
            "scenes": f"mminspect.lab.pointing.pointing_scenes(n, seed, size, world={world})",
            "n": n, "seed": seed, "size": size}


def write(world: bool, n: int = N_SCENES, seed: int = POINTING_SEED,
          out: Path | None = None) -> Path:
    out = Path(out) if out is not None else DATASETS / FOLDERS[world]
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (image, prompt, mask) in enumerate(pointing_scenes(n, seed, SIZE, world=world)):
        Image.fromarray(image).save(out / f"scene_{i:03d}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(out / f"mask_{i:03d}.png")
        rows.append({"file": f"scene_{i:03d}.png", "prompt": prompt, "label": prompt,
                     "mask": f"mask_{i:03d}.png"})
    table = pd.DataFrame(rows)
    table["recipe"] = [json.dumps(recipe(n, seed, SIZE, world))] + [""] * (len(rows) - 1)
    table.to_csv(out / "images.csv", index=False)
    return out


if __name__ == "__main__":
    for w in FOLDERS:
        print(write(w))
