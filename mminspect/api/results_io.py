"""Save a result as JSON and read it back (`mi.save_result`, `mi.load_result`): an equal
result, arrays bit-identical. The encoding is `types/serialize.py`; nothing in a file runs code."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from ..types import InputError
from ..types.serialize import FORMAT, from_jsonable, to_jsonable

MAX_FILE_BYTES = 512 * 1024 * 1024          # a 512-token TextView is ~150 MB of JSON


def result_json(result, indent: int | None = None) -> str:
    """The file's text: {"format", "saved", "result"}."""
    try:
        body = to_jsonable(result)
    except ValueError as e:
        raise InputError(f"This value cannot be saved as a result: {e}.") from None
    return json.dumps({"format": FORMAT, "saved": datetime.now(timezone.utc).isoformat(
        timespec="seconds"), "result": body}, indent=indent, allow_nan=False)


def save_result(result, path) -> Path:
    """Write `result` (any mminspect result) to `path` as JSON; returns the path."""
    path = Path(path)
    path.write_text(result_json(result), encoding="utf-8")
    return path


def load_result(path):
    """Read a file written by `save_result`: the same result class, equal values."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"No file at {path}: give the path of a JSON file saved by "
                         "mi.save_result or the app's JSON export.")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InputError(f"{path} is larger than {MAX_FILE_BYTES // 2**20} MB; not read.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path} is not JSON ({e}); give a file saved by mi.save_result.") from None
    except RecursionError:
        raise InputError(f"{path} is nested too deeply to be a saved result; not read.") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{path} is not an mminspect result (its \"format\" is not {FORMAT!r}).")
    try:
        return from_jsonable(data["result"])
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as e:
        # the message of a result class's own check, or a field it does not have
        why = str(e) if not isinstance(e, RecursionError) else "it is nested too deeply"
        raise InputError(f"{path} holds a result that does not check out: {why[:300]}.") from None
