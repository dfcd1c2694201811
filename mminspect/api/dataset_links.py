"""A row of a bundled scene set as an Image–text example, so a link can open it there.

    ex = scene_example("scenes", 12)         # image, the set's labels as prompts, its mask
    api.load_example(ex["title"])            # the same scene as an Example, from its title

The Dataset tab links each row of a bundled set to the Image–text tab by the set's name and
the row number (never a server path); the tab loads the image and the row's exact mask
through `load_example`, so its pointing and energy-in-mask are measured on the same mask as
the table's. The prompts are the set's labels (their distinct values, sorted), as the
dataset run's zero-shot prediction used them.
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd
from PIL import Image

from ..types import InputError
from .dataset_samples import load_dataset_sample

SCENE_SETS = {"scenes": "miniclip2", "scenes_flat": "miniclip"}    # set -> the model it is for
TITLE = "{name} row {row}: {prompt}"
_TITLE = re.compile(r"^(scenes|scenes_flat) row (\d+): ")


@lru_cache(maxsize=2)
def _rows(name: str) -> pd.DataFrame:
    return pd.read_csv(load_dataset_sample(name) / "images.csv", dtype=str,
                       keep_default_na=False)


def scene_example(name: str, row: int) -> dict:
    """Row `row` of the bundled set `name` ("scenes" or "scenes_flat"): the fields of an
    api.examples.Example (which load_example builds from them; this module cannot import
    examples, which imports it)."""
    if name not in SCENE_SETS:
        raise InputError(f"No bundled scene set {name!r}; choose one of {', '.join(SCENE_SETS)}.")
    rows = _rows(name)
    if not 0 <= int(row) < len(rows):
        raise InputError(f"The set {name!r} has rows 0 to {len(rows) - 1}; the link asks for "
                         f"row {row}.")
    r = rows.iloc[int(row)]
    folder = load_dataset_sample(name)
    with Image.open(folder / r["file"]) as im:
        image = im.convert("RGB")
    with Image.open(folder / r["mask"]) as m:
        mask = np.asarray(m.convert("L")) > 127                             # [H, W]
    labels = sorted({v.strip() for v in rows["label"] if v.strip()})
    return {"title": TITLE.format(name=name, row=int(row), prompt=r["prompt"]),
            "image": image, "prompts": labels, "masks": {r["prompt"]: mask},
            "model": SCENE_SETS[name]}


def is_scene_title(title: str) -> bool:
    return bool(_TITLE.match(str(title)))


def example_from_title(title: str) -> dict:
    """The fields of the Example a title written by scene_example names."""
    m = _TITLE.match(str(title))
    if m is None:
        raise InputError(f"Not a scene-set row: {title!r}.")
    return scene_example(m.group(1), int(m.group(2)))


def parse_scene(raw: str) -> tuple[str, int]:
    """A link's "set:row" value, e.g. "scenes:12", checked."""
    name, _, row = str(raw).partition(":")
    if name not in SCENE_SETS or not row.isdigit():
        raise InputError(f"“set_scene” must be a bundled set and a row, e.g. scenes:12 "
                         f"(sets: {', '.join(SCENE_SETS)}); the link has {str(raw)[:30]!r}")
    return name, int(row)
