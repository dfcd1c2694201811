"""Dataset mode: explain every row of a table, then look at the whole set.

    table = mi.explain_dataset("minilm", "reviews.csv", methods=["integrated_gradients",
                               "saliency"], out="results/")      # or backend="ray"
    summary = mi.summarize_dataset(table)   # accuracy per slice, faithfulness with intervals,
                                            # head importance [layer, head], method agreement

One batch function (api/dataset_batch.py) does the work per row; the local backend runs
it here and the Ray backend (api/dataset_ray.py, imported only when asked for) in Ray
actors. The limits (rows, characters, time) are checked with the host's Limits.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from ..explain.attribution import METHODS
from ..models import load
from ..models.clip_base import CLIPAdapter
from ..types import Cancelled, InputError, OverBudget, Progress, StopCheck
from .adapters import as_text_adapter
from .dataset_batch import TARGETS, DatasetSpec, explain_batch
from .dataset_image_stats import image_summary
from .dataset_images import ImageSpec, image_spec, read_image_rows
from .dataset_upload import unpack_images
from .dataset_io import ParquetSink, read_rows, table_schema, typed
from .dataset_stats import summarize_dataset
from .limits import budget_in_force, check_labels, check_methods, limits

BACKENDS = ("local", "ray")
DEFAULT_METHODS = ("integrated_gradients", "saliency")
MAX_BATCH = 1024          # rows handed to one call of the batch function (one Ray task)


def _default_target(adapter, rows: pd.DataFrame) -> str:
    if adapter.kind == "classifier":
        return "class"
    if adapter.kind == "masked_lm":
        return "mask_fill"
    if adapter.kind == "causal_lm":
        return "next_token"
    if "text2" in rows.columns:
        return "similarity"
    if "label" in rows.columns:
        return "zero_shot"
    raise InputError(f"{adapter.name} embeds sentences: give the data a 'label' column "
                     "(zero-shot: the labels are its distinct values) or a 'text2' column "
                     "(similarity of the two texts), or pass target= and labels=.")


def _labels(target: str, labels, rows: pd.DataFrame, lim) -> tuple[str, ...]:
    """Zero-shot labels: given, else the distinct values of the label column (sorted, so
    every run and every backend uses the same order)."""
    if target != "zero_shot":
        return ()
    if labels is None:
        if "label" not in rows.columns:
            raise InputError("target='zero_shot' needs labels=[...] or a 'label' column.")
        labels = sorted({v for v in rows["label"] if v is not None and v.strip()})
    out = check_labels(labels, lim, "zero-shot labels")
    if len(out) < 2:
        raise InputError(f"Zero-shot needs at least two labels to choose from; got {out}.")
    return tuple(out)


def _spec(adapter, rows: pd.DataFrame, target, methods, labels, heads: bool, baseline: str,
          temperature: float, precision, lim) -> DatasetSpec:
    """Every model-free check of the call, as one DatasetSpec."""
    target = target or _default_target(adapter, rows)
    if target not in TARGETS:
        raise InputError(f"Unknown target {target!r} for dataset mode; choose one of: "
                         f"{', '.join(TARGETS)}.")
    if target == "similarity" and "text2" not in rows.columns:
        raise InputError("target='similarity' needs a 'text2' column (the second text of "
                         "each pair); the data has none.")
    names = check_methods(list(methods or DEFAULT_METHODS), list(METHODS), lim)
    return DatasetSpec(model=adapter.name, target=target, methods=tuple(names),
                       labels=_labels(target, labels, rows, lim), heads=bool(heads),
                       baseline=baseline, temperature=float(temperature),
                       threads=torch.get_num_threads(), precision=precision or lim.precision,
                       limits=lim)


class Clock:
    """The whole call's time budget and the Stop button, checked before every row."""

    def __init__(self, budget_s, n_rows: int, progress: Progress | None,
                 should_stop: StopCheck | None, lim):
        self.budget_s = budget_in_force(budget_s, lim)[0]
        self.start, self.n, self.done = time.perf_counter(), n_rows, 0
        self.progress, self.should_stop = progress, should_stop

    def check(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise Cancelled(f"Stopped after {self.done} of {self.n} rows.")
        spent = time.perf_counter() - self.start
        if self.done >= 1:                 # after a row the rate is known: refuse early
            rate = spent / self.done
            need = rate * self.n
            if need > 1.5 * self.budget_s:
                raise OverBudget(f"Stopped after {self.done} of {self.n} rows: this set would "
                                 f"take about {need:,.0f} s ({rate:.2f} s per row); the time "
                                 f"budget is {self.budget_s:g} s (MMINSPECT_BUDGET_S, or "
                                 f"budget_s=). About {int(self.budget_s / rate)} rows fit: take "
                                 "a sample, drop a method or heads=False, or pass "
                                 "budget_s=math.inf on your own machine.")
        if spent > self.budget_s:
            raise OverBudget(f"Stopped after {self.done} of {self.n} rows: the time budget of "
                             f"{self.budget_s:g} s is used up (MMINSPECT_BUDGET_S, or "
                             "budget_s=). Explain fewer rows or fewer methods at once, or "
                             "pass budget_s=math.inf on your own machine.")

    def advance(self, k: int) -> None:
        self.done += k
        if self.progress is not None:
            self.progress(self.done / self.n, f"{self.done} of {self.n} rows")


def _out_paths(out) -> tuple[Path | None, Path | None]:
    """(the table's Parquet file, the folder for the aggregates or None)."""
    if out is None:
        return None, None
    out = Path(out).expanduser()
    if out.suffix.lower() == ".parquet":
        return out, None
    return out / "table.parquet", out


def _local(adapter, records: list[dict], spec: DatasetSpec, batch_size: int, clock: Clock,
           should_stop, emit) -> None:
    for i in range(0, len(records), batch_size):
        chunk = records[i:i + batch_size]
        try:
            emit(explain_batch(adapter, chunk, spec, should_stop, clock.check))
        except Cancelled:                    # from inside a row: say how far the set got
            raise Cancelled(f"Stopped after {clock.done} of {clock.n} rows.") from None
        clock.advance(len(chunk))


def _prepare(loaded, data, target, methods, labels, heads, faithfulness, baseline,
             temperature, precision, lim, scratch) -> tuple:
    """(adapter, rows, spec): an image set (a CLIP-style model: a folder, its CSV's path or
    a zip's bytes, api/dataset_images.py) or a table of texts. Every check before model work."""
    if isinstance(loaded, CLIPAdapter):
        if isinstance(data, (bytes, bytearray)):               # a zip: unpacked for this call
            data = unpack_images(bytes(data), lim, scratch)
        rows, folder = read_image_rows(data, lim)
        default = methods is None or list(methods) == list(DEFAULT_METHODS)  # text's defaults
        return loaded, rows, image_spec(loaded, rows, folder, None if default else methods,
                                        labels, lim, faithfulness, heads)
    rows = read_rows(data, lim)
    adapter = as_text_adapter(loaded)
    return adapter, rows, _spec(adapter, rows, target, methods, labels, heads, baseline,
                                temperature, precision, lim)


def _attrs(spec, backend: str) -> dict:
    """What the table says it is (table.attrs["spec"]): the UI and dataset_sanity read it."""
    if isinstance(spec, ImageSpec):
        return {"model": spec.model, "methods": list(spec.methods), "labels": list(spec.labels),
                "kind": "images", "backend": backend}
    return {"model": spec.model, "target": spec.target, "methods": list(spec.methods),
            "labels": list(spec.labels), "backend": backend}


def explain_dataset(model, data, *, target: str | None = None, methods=DEFAULT_METHODS,
                    labels=None, heads: bool = True, backend: str = "local",
                    batch_size: int = 16, out=None, baseline: str = "pad",
                    temperature: float = 0.05, precision: str | None = None,
                    budget_s: float | None = None, progress: Progress | None = None,
                    should_stop: StopCheck | None = None, ray_options: dict | None = None,
                    keep: bool = True, faithfulness: bool = True) -> pd.DataFrame | Path:
    """Explain every row of `data`; one row of the returned table per input row.

    data: a .csv / .jsonl / .json / .parquet path, a DataFrame, a dict of columns, a list
    of dicts or of strings, with a `text` column and optionally `text2` (a second text) and
    `label` (the expected answer). target: "zero_shot" (labels: given, or the distinct
    values of `label`), "similarity" (text vs text2), "class" (a classifier), "mask_fill",
    "next_token"; by default the one the model and the columns suggest. Each row explains
    what the model predicted: the predicted label, the predicted class, or the similarity.

    Columns: the input's, then ok, prediction, score, correct, target, target_value,
    n_tokens, n_words, words, and per method `<method>.scores` (one per word),
    `<method>.deletion_area`, `<method>.insertion_area`, `<method>.completeness`; with
    heads=True `head_importance` ([layer][head]: the target's change when that head alone
    is removed); seconds and notes. A row that cannot be explained (empty, too long) keeps
    ok=False and says why in notes: nothing is dropped silently.

    backend: "local" (this process, batch_size rows at a time) or "ray" (Ray Data actors;
    see docs/dataset.md, ray_options go to map_batches). out: a .parquet file for the table,
    or a folder (table.parquet plus the aggregates of summarize_dataset); the table is
    written batch by batch. Limits: MMINSPECT_MAX_ROWS rows, MMINSPECT_MAX_CHARS per text,
    and budget_s (default MMINSPECT_BUDGET_S) for the whole call: refused early when the
    first rows show it will not fit, stopped when it is used up (OverBudget).
    progress(fraction, desc) after each batch; should_stop() -> True stops (Cancelled).
    keep=False (with out= a .parquet file): each batch is written and then dropped here, so
    memory does not grow with the set; returns the file's Path (read it with
    mminspect.api.dataset_io.read_table or pandas.read_parquet).

    With an image-text model, data is a folder of images with images.csv (file, prompt,
    optionally label and mask), that CSV's path, or a zip of them (bytes); see
    api/dataset_images.py. Per row and method: the patch map, pointing and energy-in-mask
    (with a mask), and (faithfulness=True) deletion / insertion over patches; heads=True:
    the image-tower head scan on the row's prompt. Text rows always carry faithfulness.
    """
    import pyarrow as pa                     # only here: `import mminspect` stays light
    lim = limits()
    if backend not in BACKENDS:
        raise InputError(f"Unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}.")
    if not (isinstance(batch_size, int) and 1 <= batch_size <= MAX_BATCH):
        raise InputError(f"batch_size must be a whole number from 1 to {MAX_BATCH}, "
                         f"got {batch_size!r}.")
    if not keep and (out is None or _out_paths(out)[1] is not None):
        raise InputError("keep=False writes the table to out= and keeps nothing in memory: "
                         "give out= a .parquet file (the aggregates need the whole table: "
                         "mi.summarize_dataset(read_table(path)) afterwards).")
    loaded = load(model) if isinstance(model, str) else model
    with tempfile.TemporaryDirectory(prefix="mminspect-set-") as scratch:
        adapter, rows, spec = _prepare(loaded, data, target, methods, labels, heads,
                                       faithfulness, baseline, temperature, precision, lim,
                                       Path(scratch))
        return _run(adapter, rows, spec, backend, batch_size, budget_s, progress, should_stop,
                    out, ray_options, keep, lim, pa)


def _run(adapter, rows, spec, backend, batch_size, budget_s, progress, should_stop, out,
         ray_options, keep, lim, pa):
    """Both kinds of set, both backends: batch by batch through explain_batch, each batch
    typed and written to `out` at once."""
    clock = Clock(budget_s, len(rows), progress, should_stop, lim)
    table_path, folder = _out_paths(out)
    parts, sink, schema = [], None, None

    def emit(records) -> None:
        """One finished batch: typed, written to `out` at once, kept for the result."""
        nonlocal sink, schema
        frame = pd.DataFrame.from_records(records) if isinstance(records, list) else records
        if schema is None:
            schema = table_schema(list(frame.columns), spec.methods, spec.heads)
            sink = ParquetSink(table_path, schema) if table_path is not None else None
        part = typed(frame, schema)
        if keep:
            parts.append(part)
        if sink is not None:
            sink.write(part)

    try:
        if backend == "ray":
            from .dataset_ray import run_ray
            run_ray(rows, spec, batch_size, clock, emit, ray_options)
        else:
            _local(adapter, rows.to_dict("records"), spec, batch_size, clock, should_stop, emit)
    finally:
        if sink is not None:
            sink.close()
    if not keep:
        return table_path
    table = pa.concat_tables(parts).to_pandas().sort_values("row", ignore_index=True)
    table.attrs["spec"] = _attrs(spec, backend)
    if folder is not None:
        (image_summary(table) if isinstance(spec, ImageSpec)
         else summarize_dataset(table)).save(folder)
    return table
