"""Bundled data sets for dataset mode, usable offline.

    rows = mi.load_dataset_sample("pairs")              # 240 sentences with labels
    table = mi.explain_dataset("minilm", rows[rows.slice == "negation"], budget_s=math.inf)

"pairs" holds minimal pairs (the four kinds of mi.list_pairs: negation, number, word order,
swapped roles), written by `python -m mminspect.lab.text_pairs` with a fixed seed; the recipe
is stored in the file (`recipe`), next to the pairs.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pandas as pd

from ..models.assets import asset_dir
from ..types import InputError

SAMPLES = {
    "pairs": "240 sentences, one row each: text, label, slice (the pair's kind), pair, side "
             "(a or b); for zero-shot over the labels",
    "pairs_similarity": "120 minimal pairs, one row each: text, text2, slice, pair; for the "
                        "similarity of the two sentences",
    "scenes": "40 mini-CLIP 2 scenes with exact masks: the folder (images.csv, scene_*.png, "
              "mask_*.png) to pass to explain_dataset with an image-text model",
    "scenes_flat": "40 mini-CLIP 1 flat scenes (coloured shapes) with exact masks: the folder, "
                   "like scenes",
}


@lru_cache(maxsize=1)
def _pairs_file() -> dict:
    path = asset_dir("datasets") / "text_pairs.json"
    if not path.is_file():
        raise InputError(f"The bundled text set is missing ({path}); rebuild it with "
                         "`python -m mminspect.lab.text_pairs`.")
    return json.loads(path.read_text(encoding="utf-8"))


def pairs_recipe() -> dict:
    """How the bundled pairs were made (seed, templates, word lists)."""
    return json.loads(json.dumps(_pairs_file()["recipe"]))     # a copy the caller may change


def load_dataset_sample(name: str = "pairs") -> pd.DataFrame | Path:
    """A bundled data set that `mi.explain_dataset` takes as it is.

    "pairs": a DataFrame, one row per sentence (text, label, slice, pair, side);
    "pairs_similarity": one row per pair (text, text2, slice, pair); "scenes": the Path of
    a folder of images (an image set is a folder: its images.csv names the files) drawn by
    mini-CLIP 2's world generator; "scenes_flat": the same for mini-CLIP 1's flat scenes."""
    if name not in SAMPLES:
        raise InputError(f"No bundled data set named {name!r}; choose one of: "
                         + "; ".join(f"{k} ({v})" for k, v in SAMPLES.items()) + ".")
    if name in ("scenes", "scenes_flat"):
        folder = asset_dir("datasets") / name
        if not (folder / "images.csv").is_file():
            raise InputError(f"The bundled scene set is missing ({folder}); rebuild it with "
                             "`python -m mminspect.lab.scene_set`.")
        return folder
    pairs = _pairs_file()["pairs"]
    if name == "pairs_similarity":
        return pd.DataFrame({"text": [p["text_a"] for p in pairs],
                             "text2": [p["text_b"] for p in pairs],
                             "slice": [p["kind"] for p in pairs],
                             "pair": [str(p["pair"]) for p in pairs]})
    rows = [{"text": p[f"text_{s}"], "label": p[f"label_{s}"], "slice": p["kind"],
             "pair": str(p["pair"]), "side": s} for p in pairs for s in ("a", "b")]
    return pd.DataFrame(rows)
