"""Dataset mode for image-text models: a folder of images and a CSV that names them.

    table = mi.explain_dataset("miniclip2", "scenes/", methods=["relevance", "legrad"])
    summary = mi.summarize_image_dataset(table)   # pointing hit rate per method, interval

The folder holds `images.csv` (or pass the CSV's own path; files are looked up next to it)
with the columns `file` (an image in the folder), `prompt` (or `caption`: what each map
explains), optionally `label` (the expected answer; the prediction is the label, among the
set's distinct labels, whose text matches the image best) and `mask` (a black-and-white
image of the same size: white where the prompt's object is). Paths are the caller's own
files: this is the library and the command line; the app never reads a server path.

Per row it calls the single-input API exactly as a notebook would (`inspect_clip` for the
prediction, `attribute_image(..., mask=, faithfulness=True)` per method, `head_importance(
image=, prompts=, prompt=)` for the image tower's heads), so every number is that API's
number. The batch function is dataset_batch.explain_batch, as for text: it hands an
ImageSpec's rows to `explain_image_batch` here, in this process or in a Ray actor.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError

from ..explain.image_methods import IMAGE_METHODS
from ..explain.pointing import mask_fraction, mask_patches
from ..types import Cancelled, InputError, StopCheck
from .causal import head_importance
from .clip import attribute_image, inspect_clip
from .dataset_image_stats import summarize_image_dataset  # noqa: F401  (its home before)
from .images import MAX_IMAGES, MAX_PROMPTS, model_mask, read_image
from .limits import Limits, check_labels, check_methods, without_deadline

DEFAULT_IMAGE_METHODS = ("relevance", "legrad")
CSV_NAME = "images.csv"


@dataclass(frozen=True)
class ImageSpec:
    """What a worker needs besides the rows: plain values (the folder the files are in)."""
    model: str
    folder: str
    methods: tuple[str, ...]
    labels: tuple[str, ...] = ()
    threads: int = 1                         # the same in every backend: same float sums
    limits: Limits = field(default_factory=Limits)
    faithfulness: bool = True                # deletion / insertion over patches, per map
    heads: bool = True                       # the image-tower head scan, per row
    prompts: tuple[str, ...] = ()            # what the head scan's probability is among


def read_image_rows(data, lim: Limits) -> tuple[pd.DataFrame, Path]:
    """(the CSV's rows as strings, the folder its files are in). A folder means its
    images.csv; a .csv path means that file. (A zip's bytes: api/dataset_upload.py unpacks
    it into a folder first.)"""
    path = Path(data).expanduser()
    csv = path / CSV_NAME if path.is_dir() else path
    if not csv.is_file():
        raise InputError(f"No {csv}: give a folder with {CSV_NAME} (columns file, prompt, "
                         "and optionally label and mask) or the CSV's path.")
    rows = pd.read_csv(csv, dtype=str, keep_default_na=False)
    if "prompt" not in rows and "caption" in rows:
        rows = rows.rename(columns={"caption": "prompt"})
    missing = [c for c in ("file", "prompt") if c not in rows]
    if missing:
        raise InputError(f"{csv.name} needs the columns file and prompt (or caption); it has "
                         f"{list(rows.columns)}.")
    if len(rows) > lim.max_rows:
        raise InputError(f"{csv.name} has {len(rows):,} rows; the limit is {lim.max_rows:,} "
                         "(MMINSPECT_MAX_ROWS): take a sample.")
    if rows.empty:
        raise InputError(f"{csv.name} has no rows.")
    rows.insert(0, "row", np.arange(len(rows)))
    return rows, csv.parent


def _file(folder: Path, name: str, what: str) -> Path:
    """A file named by the CSV, which must stay inside the folder."""
    if not name.strip():
        raise InputError(f"no {what} file named")
    p = (folder / name).resolve()
    if folder.resolve() not in p.parents:
        raise InputError(f"the {what} {name!r} is outside the folder")
    if not p.is_file():
        raise InputError(f"no {what} file {name!r} in the folder")
    return p


def _open(path: Path, what: str) -> Image.Image:
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except (UnidentifiedImageError, OSError) as e:
        raise InputError(f"the {what} {path.name!r} cannot be read as an image ({e})") from None


def blank(spec: ImageSpec) -> dict:
    """Every result column of an image row, empty: a row that cannot be read keeps them all,
    so every batch (one of only bad rows too) has the same columns."""
    out = {"ok": False, "prediction": None, "score": np.nan, "correct": None,
           "chance": np.nan, "energy_chance": np.nan}
    for m in spec.methods:
        out |= {f"{m}.patch_scores": None, f"{m}.peak_patch": None,
                **{f"{m}.{k}": np.nan for k in IMAGE_METRICS}}
    if spec.heads:
        out["head_importance"] = None
    return out | {"notes": ""}


# per method, one number per row (besides the map and its peak patch)
IMAGE_METRICS = ("target_value", "pointing_hit", "energy_in_mask", "deletion_area",
                 "insertion_area")


def _read_row(adapter, row: dict, spec: ImageSpec):
    """(image, mask or None, the row's result columns), or an InputError saying why not."""
    folder = Path(spec.folder)
    out = blank(spec)
    notes: list[str] = []
    im = read_image(_open(_file(folder, row["file"], "image"), "image"), "the image", notes)
    mask = None
    if (row.get("mask") or "").strip():        # Ray hands a missing value over as None
        mask = np.asarray(_open(_file(folder, row["mask"], "mask"), "mask").convert("L")) > 127
        seen = model_mask(mask, im, adapter.patch_grid.image_size)    # as the maps see it
        out["chance"] = float(mask_patches(seen, adapter.patch_grid).mean())
        out["energy_chance"] = float(mask_fraction(seen, adapter.patch_grid).mean())
    out["notes"] = "; ".join(notes)
    return im, mask, out


def head_prompts(spec: ImageSpec, prompt: str) -> list[str]:
    """The prompts the head scan's probability is taken among: the set's (spec.prompts),
    with the row's own prompt added when it is not one of them."""
    prompt = " ".join(prompt.split())
    return list(spec.prompts) + ([prompt] if prompt not in spec.prompts else [])


def _maps(adapter, im, mask, row: dict, spec: ImageSpec, out: dict) -> None:
    """Each method's map for the row's prompt, with pointing where there is a mask and
    deletion / insertion over patches; then the head scan on the same prompt. Each number
    is the single-input call's (attribute_image, head_importance)."""
    notes = [n for n in out["notes"].split("; ") if n]
    for m in spec.methods:
        res = attribute_image(adapter, im, row["prompt"], m, mask=mask,
                              faithfulness=spec.faithfulness)
        ps = np.asarray(res.patch_scores, dtype=np.float64)             # [gh, gw]
        out[f"{m}.patch_scores"] = ps.ravel().tolist()
        out[f"{m}.peak_patch"] = int(np.argmax(ps))
        out[f"{m}.target_value"] = float(res.target_value)
        if mask is not None:
            out[f"{m}.pointing_hit"] = float(res.pointing_hit)
            out[f"{m}.energy_in_mask"] = float(res.energy_in_mask)
        if res.faithfulness is not None:
            out[f"{m}.deletion_area"] = float(res.faithfulness.deletion_area)
            out[f"{m}.insertion_area"] = float(res.faithfulness.insertion_area)
        notes += [n for n in res.notes if n not in notes]
    prompts = head_prompts(spec, row["prompt"])
    if spec.heads and len(prompts) < 2:
        notes.append("No head scan: a probability among one prompt is always 1; give the "
                     "set two prompts or labels or more.")
    elif spec.heads:
        scan = head_importance(adapter, image=im, prompts=prompts, prompt=prompts[
            prompts.index(" ".join(row["prompt"].split()))], budget_s=math.inf)
        out["head_importance"] = scan.delta.astype(np.float64).tolist()      # [layer][head]
    out["ok"] = True
    out["notes"] = "; ".join(notes)


def _predict(adapter, rows: list[dict], read: list, spec: ImageSpec) -> None:
    """The zero-shot prediction of every readable row of the batch in ONE forward pass of
    both towers (`inspect_clip` on all the batch's images against the labels)."""
    ok = [i for i, r in enumerate(read) if not isinstance(r, InputError)]
    if not spec.labels or not ok:
        return
    probs = np.concatenate([                # inspect_clip takes MAX_IMAGES images at once
        inspect_clip(adapter, [read[i][0] for i in ok[k:k + MAX_IMAGES]],
                     list(spec.labels)).probs for k in range(0, len(ok), MAX_IMAGES)])
    for i, p in zip(ok, probs):             # p: [label]
        best = int(np.argmax(p))
        out = read[i][2]
        out.update(prediction=spec.labels[best], score=float(p[best]))
        if (rows[i].get("label") or "").strip():
            out["correct"] = spec.labels[best] == rows[i]["label"].strip()


def explain_image_batch(adapter, records: list[dict], spec: ImageSpec,
                        should_stop: StopCheck | None = None, check=None) -> list[dict]:
    """A batch of image rows (dataset_batch.explain_batch hands an ImageSpec's batches
    here, for both backends): the predictions in one forward pass, then each row's maps,
    their faithfulness and the head scan. A row that cannot be read (missing, undecodable, a mask of
    another size) keeps ok=False and the reason. torch runs on spec.threads threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(spec.threads)
    try:
        return _batch(adapter, records, spec, should_stop, check)
    finally:
        torch.set_num_threads(before)


def _batch(adapter, records: list[dict], spec: ImageSpec, should_stop, check) -> list[dict]:
    t0 = time.perf_counter()
    read = []
    for row in records:
        try:
            read.append(_read_row(adapter, row, spec))
        except InputError as e:
            read.append(e)
    _predict(adapter, records, read, spec)
    shared = (time.perf_counter() - t0) / max(len(records), 1)      # reading and predicting
    out = []
    for row, r in zip(records, read):
        if check is not None:
            check()
        if should_stop is not None and should_stop():
            raise Cancelled("Stopped.")
        t0 = time.perf_counter()
        if isinstance(r, InputError):
            res = blank(spec) | {"notes": str(r)}
        else:
            res = r[2]
            try:
                with without_deadline():    # the call's clock runs between rows (dataset.py)
                    _maps(adapter, r[0], r[1], row, spec, res)
            except InputError as e:
                res.update(ok=False, notes=str(e))
        out.append({**row, **res, "seconds": shared + time.perf_counter() - t0})
    return out


def image_spec(adapter, rows: pd.DataFrame, folder: Path, methods, labels, lim,
               faithfulness: bool = True, heads: bool = True) -> ImageSpec:
    names = list(methods or DEFAULT_IMAGE_METHODS)
    names = check_methods(names, list(IMAGE_METHODS), lim)
    if labels is None and "label" in rows:
        labels = sorted({v.strip() for v in rows["label"] if v.strip()})
    labels = tuple(check_labels(labels, lim, "labels")) if labels else ()
    if len(labels) > MAX_PROMPTS:
        raise InputError(f"The set has {len(labels)} distinct labels; an image-text model "
                         f"compares an image with at most {MAX_PROMPTS} prompts at once. Pass "
                         "labels=[...] (the ones to choose among) or leave out the label column.")
    # the head scan's prompts: the labels, else the set's distinct prompts (sorted, so every
    # backend and every run uses the same order)
    prompts = labels or tuple(sorted({" ".join(p.split()) for p in rows["prompt"]
                                      if p.strip()}))
    if heads and len(prompts) + 1 > MAX_PROMPTS:
        raise InputError(f"The head scan measures each row's prompt among the set's "
                         f"{len(prompts)} prompts; at most {MAX_PROMPTS - 1} fit one call. "
                         "Pass labels=[...] (at most that many) or heads=False.")
    return ImageSpec(model=adapter.name, folder=str(folder), methods=tuple(names),
                     labels=labels, threads=torch.get_num_threads(), limits=lim,
                     faithfulness=bool(faithfulness), heads=bool(heads), prompts=prompts)
