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
prediction, `attribute_image(..., mask=)` per method), so every number is that API's number.
`explain_image_batch` is the one function that does a batch of rows.
"""
from __future__ import annotations

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
from .clip import attribute_image, inspect_clip
from .dataset_stats import bootstrap_mean
from .images import MAX_IMAGES, model_mask, read_image
from .limits import Limits, check_labels, check_methods

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


def read_image_rows(data, lim: Limits) -> tuple[pd.DataFrame, Path]:
    """(the CSV's rows as strings, the folder its files are in). A folder means its
    images.csv; a .csv path means that file."""
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


def _read_row(adapter, row: dict, spec: ImageSpec):
    """(image, mask or None, the row's first columns), or an InputError saying why not."""
    folder = Path(spec.folder)
    out = {"ok": False, "prediction": None, "score": np.nan, "correct": None,
           "chance": np.nan, "energy_chance": np.nan, "notes": ""}
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


def _maps(adapter, im, mask, row: dict, spec: ImageSpec, out: dict) -> None:
    """Each method's map for the row's prompt, with pointing where there is a mask."""
    notes = [n for n in out["notes"].split("; ") if n]
    for m in spec.methods:
        res = attribute_image(adapter, im, row["prompt"], m, mask=mask)
        ps = np.asarray(res.patch_scores, dtype=np.float64)             # [gh, gw]
        out[f"{m}.patch_scores"] = ps.ravel().tolist()
        out[f"{m}.peak_patch"] = int(np.argmax(ps))
        out[f"{m}.target_value"] = float(res.target_value)
        out[f"{m}.pointing_hit"] = float(res.pointing_hit) if mask is not None else np.nan
        out[f"{m}.energy_in_mask"] = (float(res.energy_in_mask) if mask is not None
                                      else np.nan)
        notes += [n for n in res.notes if n not in notes]
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
    """The one function that explains a batch of image rows: the predictions in one forward
    pass, then each row's maps. A row that cannot be read (missing, undecodable, a mask of
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
            res = {"ok": False, "notes": str(r)}
        else:
            res = r[2]
            try:
                _maps(adapter, r[0], r[1], row, spec, res)
            except InputError as e:
                res.update(ok=False, notes=str(e))
        out.append({**row, **res, "seconds": shared + time.perf_counter() - t0})
    return out


def image_spec(adapter, rows: pd.DataFrame, folder: Path, methods, labels, lim) -> ImageSpec:
    names = list(methods or DEFAULT_IMAGE_METHODS)
    names = check_methods(names, list(IMAGE_METHODS), lim)
    if labels is None and "label" in rows:
        labels = sorted({v.strip() for v in rows["label"] if v.strip()})
    labels = tuple(check_labels(labels, lim, "labels")) if labels else ()
    return ImageSpec(model=adapter.name, folder=str(folder), methods=tuple(names),
                     labels=labels, threads=torch.get_num_threads(), limits=lim)


def run_images(adapter, rows: pd.DataFrame, spec: ImageSpec, batch_size: int, clock,
               should_stop, out=None, remote=None) -> pd.DataFrame:
    """Image sets, batch by batch through explain_image_batch: here, or with remote(emit)
    (the Ray backend, which calls the same function in its actors). out: a .parquet file
    for the table, or a folder (table.parquet and pointing.csv)."""
    parts: list[pd.DataFrame] = []
    if remote is not None:
        remote(parts.append)
    records = rows.to_dict("records") if remote is None else []
    for i in range(0, len(records), batch_size):
        chunk = records[i:i + batch_size]
        try:
            parts.append(pd.DataFrame.from_records(
                explain_image_batch(adapter, chunk, spec, should_stop, clock.check)))
        except Cancelled:
            raise Cancelled(f"Stopped after {clock.done} of {clock.n} rows.") from None
        clock.advance(len(chunk))
    table = pd.concat(parts, ignore_index=True).sort_values("row", ignore_index=True)
    table.attrs["spec"] = {"model": spec.model, "methods": list(spec.methods),
                           "labels": list(spec.labels), "kind": "images"}
    if out is not None:
        out = Path(out).expanduser()
        path = out if out.suffix.lower() == ".parquet" else out / "table.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(path, index=False)
        if path != out:                      # a folder: the aggregates go beside the table
            summarize_image_dataset(table).to_csv(path.parent / "pointing.csv", index=False)
    return table


def summarize_image_dataset(table: pd.DataFrame, n_boot: int = 1000, level: float = 0.95,
                            seed: int = 0) -> pd.DataFrame:
    """Per method: pointing hit rate and energy-in-mask over the rows with a mask (mean with
    a percentile bootstrap interval), beside what chance scores; and the accuracy."""
    methods = [c[:-len(".pointing_hit")] for c in table if c.endswith(".pointing_hit")]
    ok = table[table["ok"]]
    lines = []
    for m in methods:
        for metric, chance in (("pointing_hit", "chance"), ("energy_in_mask", "energy_chance")):
            v = ok[f"{m}.{metric}"].to_numpy(dtype=np.float64)
            mean, low, high = bootstrap_mean(v, n_boot, level, seed)
            lines.append({"method": m, "metric": metric, "n": int(np.isfinite(v).sum()),
                          "mean": mean, "low": low, "high": high,
                          "chance": float(np.nanmean(ok[chance].to_numpy(np.float64)))
                          if ok[chance].notna().any() else np.nan})
    if "correct" in ok and ok["correct"].notna().any():
        v = ok["correct"].dropna().astype(float).to_numpy()
        mean, low, high = bootstrap_mean(v, n_boot, level, seed)
        lines.append({"method": "", "metric": "accuracy", "n": int(v.size), "mean": mean,
                      "low": low, "high": high, "chance": np.nan})
    return pd.DataFrame(lines)
