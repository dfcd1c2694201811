"""Data in and out for dataset mode: a table of texts from a file or from Python objects,
checked before any model work, and the result table streamed to Parquet.

    rows = read_rows("reviews.csv")            # or .jsonl / .json / .parquet, a folder saved
                                               # by datasets' save_to_disk, a DataFrame, a
                                               # list of dicts or a list of strings
Columns: `text` (required), `text2` (a second text: similarity), `label` (the expected
answer). Any other column (e.g. `slice`) is carried through as text, for slicing.

Why pandas in memory and Parquet on disk: the result table holds lists (each example's words
and word scores, its head-importance grid) next to plain numbers. A pandas DataFrame is what
notebook users already know and what gradio's table shows; Parquet (through pyarrow) keeps
those lists typed and compressed and is written one batch at a time, so a stopped run keeps
what it finished. CSV cannot hold lists, so it is offered only as an export (lists as JSON).
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..types import InputError
from .limits import Limits

KNOWN = ("text", "text2", "label")
SUFFIXES = (".csv", ".jsonl", ".json", ".parquet")
# An uploaded table's bytes: 1,000 rows of a few sentences are well under 1 MB.
MAX_UPLOAD_BYTES = 10 * 2**20


def _check_columns(df: pd.DataFrame, where: str) -> None:
    if "text" not in df.columns:
        found = ", ".join(map(str, df.columns[:12])) or "none"
        raise InputError(f"{where} has no 'text' column (columns found: {found}). Name the "
                         "column that holds the texts 'text'; optional columns: 'text2' (a "
                         "second text, for similarity) and 'label' (the expected answer).")


def _too_many(n: int, lim: Limits, exact: bool = True) -> InputError:
    """exact=False: the file was read only up to one row past the limit."""
    count = f"{n:,} rows" if exact else f"more than {lim.max_rows:,} rows"
    return InputError(f"The data has {count}; the limit is {lim.max_rows:,} (MMINSPECT_MAX_ROWS). "
                      "Take a sample, e.g. the first rows, or raise MMINSPECT_MAX_ROWS on your "
                      "own machine.")


def _parse(source, kind: str, lim: Limits, name: str) -> pd.DataFrame:
    """A file's rows (`source`: a path or a byte stream), at most max_rows + 1 of them (one
    more tells that it is over the limit); an InputError in the parser's own words."""
    cap = lim.max_rows + 1
    try:
        if kind == "csv":
            return pd.read_csv(source, nrows=cap, dtype=str, keep_default_na=False)
        if kind in ("jsonl", "json"):
            lines = kind == "jsonl"
            return pd.read_json(source, lines=lines, nrows=cap if lines else None, dtype=False)
        import pyarrow.parquet as pq
        f = pq.ParquetFile(source)
        if f.metadata.num_rows > lim.max_rows:
            raise _too_many(f.metadata.num_rows, lim)
        return f.read().to_pandas()
    except InputError:
        raise
    except Exception as e:                      # the parser's own words say where it broke
        raise InputError(f"Could not read {name} as {kind.upper()}: {str(e)[:200]}") from None


def _read_file(path: Path, lim: Limits) -> pd.DataFrame:
    if path.is_dir() and ((path / "state.json").is_file() or
                          (path / "dataset_dict.json").is_file()):
        return _read_hf_folder(path, lim)
    if not path.is_file():
        raise InputError(f"No file at {str(path)!r}.")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{path.name}: unknown file type {suffix or '(none)'!r}; use one of "
                         f"{', '.join(SUFFIXES)}.")
    kind = suffix[1:]
    if kind == "json":                          # a JSON list, or JSON lines named .json
        with path.open("rb") as f:
            kind = "json" if f.read(64).lstrip()[:1] == b"[" else "jsonl"
    return _parse(path, kind, lim, path.name)


def _read_hf_folder(path: Path, lim: Limits) -> pd.DataFrame:
    """A Hugging Face `datasets` folder written by `save_to_disk`: its state.json lists Arrow
    stream files, read here with pyarrow (the `datasets` package is not needed)."""
    import pyarrow as pa
    if (path / "dataset_dict.json").is_file():
        splits = json.loads((path / "dataset_dict.json").read_text()).get("splits", [])
        raise InputError(f"{path.name} holds several splits ({', '.join(map(str, splits))}); "
                         f"pass one of them, e.g. {path.name}/{splits[0] if splits else 'train'}.")
    try:
        files = [path / f["filename"] for f in
                 json.loads((path / "state.json").read_text())["_data_files"]]
        batches, n = [], 0
        for f in files:
            with pa.memory_map(str(f)) as source:
                for batch in pa.ipc.open_stream(source):
                    batches.append(batch)
                    n += batch.num_rows
                    if n > lim.max_rows:
                        raise _too_many(n, lim, exact=False)
        return pa.Table.from_batches(batches).to_pandas()
    except InputError:
        raise
    except Exception as e:
        raise InputError(f"Could not read {path.name} as a Hugging Face datasets folder "
                         f"(save_to_disk): {str(e)[:200]}") from None


def _read_bytes(raw: bytes, lim: Limits) -> pd.DataFrame:
    """An uploaded file's bytes (the app never reads a path): Parquet by its magic number,
    JSON / JSON lines by their first character, else CSV."""
    if len(raw) > MAX_UPLOAD_BYTES:
        raise InputError(f"The file is {len(raw) / 2**20:.1f} MB; the limit is "
                         f"{MAX_UPLOAD_BYTES // 2**20} MB. Upload a sample of the rows.")
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    kind = ("parquet" if raw[:4] == b"PAR1" else "json" if head == b"[" else
            "jsonl" if head == b"{" else "csv")
    return _parse(io.BytesIO(raw), kind, lim, "the file")


def _as_frame(data, lim: Limits) -> tuple[pd.DataFrame, str]:
    """(a DataFrame of the input, how to name it in messages)."""
    if isinstance(data, (str, Path)):
        path = Path(data).expanduser()
        return _read_file(path, lim), path.name
    if isinstance(data, (bytes, bytearray, memoryview)):
        return _read_bytes(bytes(data), lim), "The file"
    if isinstance(data, pd.DataFrame):
        return data.copy(), "The table"
    if isinstance(data, dict):
        return pd.DataFrame(data), "The data"
    if isinstance(data, (list, tuple)):
        if data and all(isinstance(x, str) for x in data):
            return pd.DataFrame({"text": list(data)}), "The list"
        if all(isinstance(x, dict) for x in data):
            return pd.DataFrame(list(data)), "The list"
    raise InputError("data must be a file path (.csv, .jsonl, .json, .parquet), a file's "
                     "bytes, a pandas "
                     "DataFrame, a dict of columns, a list of dicts or a list of strings; got "
                     f"{type(data).__name__}.")


def _text_column(values) -> list[str | None]:
    """Strings as they are; missing values (NaN, None, an empty CSV cell) as None; anything
    else as str (a label 1 and a label "1" are the same answer)."""
    return [None if v is None or v == "" or (isinstance(v, float) and np.isnan(v)) else str(v)
            for v in values]


def read_rows(data, lim: Limits) -> pd.DataFrame:
    """The input as a DataFrame: `row` (0, 1, ...), `text`, and `text2` / `label` / other
    columns when given, every one as strings (None where missing). An InputError names a
    missing column or a limit before any model work."""
    df, where = _as_frame(data, lim)
    _check_columns(df, where)
    if len(df) > lim.max_rows:
        raise _too_many(len(df), lim, exact=not isinstance(data, (str, Path, bytes)))
    if len(df) == 0:
        raise InputError(f"{where} has no rows.")
    df = df.reset_index(drop=True)
    out = pd.DataFrame({"row": np.arange(len(df), dtype=np.int64)})
    for col in df.columns:
        name = str(col)
        if name == "row":
            continue                               # ours: the row's position in the input
        out[name] = pd.Series(_text_column(df[col].tolist()), dtype=object)   # None stays None
    return out


def row_problem(row: dict, lim: Limits) -> str | None:
    """Why a row cannot be explained (empty, too long), or None. Such rows stay in the
    table with ok=False and this reason in `notes`: nothing is dropped silently."""
    for col, what in (("text", "text"), ("text2", "second text")):
        value = row.get(col)
        if col == "text2" and "text2" not in row:
            continue
        if value is None or not str(value).strip():
            return f"empty {what}"
        if len(value) > lim.max_chars:
            return (f"{what} is {len(value):,} characters; the limit is {lim.max_chars:,} "
                    "(MMINSPECT_MAX_CHARS)")
    return None


def table_schema(columns: list[str], methods, heads: bool):
    """The Parquet schema of a result table: fixed, so that every batch (one with only
    skipped rows too) is written with the same types."""
    import pyarrow as pa
    f64, text = pa.float64(), pa.string()
    known = {"row": pa.int64(), "ok": pa.bool_(), "prediction": text, "score": f64,
             "correct": pa.bool_(), "target": text, "target_value": f64, "n_tokens": pa.int64(),
             "n_words": pa.int64(), "words": pa.list_(text), "seconds": f64, "notes": text,
             "head_importance": pa.list_(pa.list_(f64))}
    known |= {"chance": f64, "energy_chance": f64}           # image sets (dataset_images)
    for m in methods:
        known[f"{m}.scores"] = pa.list_(f64)
        known[f"{m}.patch_scores"] = pa.list_(f64)
        known[f"{m}.peak_patch"] = pa.int64()
        for k in ("deletion_area", "insertion_area", "completeness", "target_value",
                  "pointing_hit", "energy_in_mask"):
            known[f"{m}.{k}"] = f64
    return pa.schema([(c, known.get(c, text)) for c in columns])


def typed(frame: pd.DataFrame, schema):
    """`frame` as an Arrow table of `schema`: every batch of every backend gets the same
    column types (Ray hands back Arrow-typed columns, the local backend Python objects)."""
    import pyarrow as pa
    clean = frame[schema.names].astype(object)
    clean = clean.where(clean.notna(), None)                 # NaN / pd.NA -> null
    return pa.Table.from_pandas(clean, schema=schema, preserve_index=False)


class ParquetSink:
    """Appends each finished batch to one Parquet file (one row group per batch)."""

    def __init__(self, path: Path, schema):
        import pyarrow.parquet as pq
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = pq.ParquetWriter(str(self.path), schema)

    def write(self, table) -> None:
        self.writer.write_table(table)

    def close(self) -> None:
        self.writer.close()


def read_table(path) -> pd.DataFrame:
    """A result table written by explain_dataset(out=...) (Parquet), for summarize_dataset."""
    import pyarrow.parquet as pq
    return pq.read_table(str(path)).to_pandas()


def plain(value):
    """A list cell as Python lists (Arrow hands back arrays, and arrays of arrays)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def to_csv(table: pd.DataFrame, path) -> Path:
    """The table as CSV: list columns (words, scores, head importance) written as JSON."""
    flat = table.copy()
    for col in flat.columns:
        if flat[col].map(lambda v: isinstance(v, (list, np.ndarray))).any():
            flat[col] = flat[col].map(lambda v: json.dumps(plain(v))
                                      if isinstance(v, (list, np.ndarray)) else v)
    flat.to_csv(path, index=False)
    return Path(path)
