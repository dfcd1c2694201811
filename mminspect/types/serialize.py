"""Results as plain JSON and back: `to_jsonable(result)` -> dicts, lists, numbers and strings;
`from_jsonable(data)` -> an equal result (`results_equal` says so, arrays compared exactly).

Why by hand and not pickle: a JSON file is readable, safe to open (no code runs on load) and
usable from any language. The encoding keeps what JSON cannot say by itself:
  dataclass  {"__result__": "TextView", "fields": {...}}   (only classes of mminspect.types)
  ndarray    {"__ndarray__": nested lists, "dtype": "float32", "shape": [...]}
  tuple      {"__tuple__": [...]}                           (lists stay lists)
  nan / inf  {"__float__": "nan" | "inf" | "-inf"}           (strict JSON has no such number)
float32 values written through Python floats come back bit-identical.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from . import attribution, causal, clip, compare, results, seq2seq, trace, vlm
from .results import _check

FORMAT = "mminspect-result/1"
# Every result class a file may name: decoding never builds anything else.
RESULT_TYPES = {cls.__name__: cls
                for module in (attribution, causal, clip, compare, results, seq2seq, trace, vlm)
                for cls in vars(module).values()
                if isinstance(cls, type) and dataclasses.is_dataclass(cls)
                and cls.__module__ == module.__name__}


def _float(x: float):
    if math.isfinite(x):
        return x
    return {"__float__": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}


def _array_values(a: np.ndarray):
    if a.dtype.kind == "f":                              # nested lists, non-finite values tagged
        flat = [_float(float(v)) for v in a.ravel()]
        return np.array(flat, dtype=object).reshape(a.shape).tolist() if a.ndim else flat[0]
    return a.tolist()


def to_jsonable(value):
    """A result (or any value inside one) as JSON-ready Python data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        _check(RESULT_TYPES.get(name) is type(value), f"{name} is not an mminspect result type")
        return {"__result__": name,
                "fields": {f.name: to_jsonable(getattr(value, f.name))
                           for f in dataclasses.fields(value)}}
    if isinstance(value, np.ndarray):
        _check(value.dtype.kind in "fiub", f"arrays of dtype {value.dtype} cannot be saved")
        return {"__ndarray__": _array_values(value), "dtype": str(value.dtype),
                "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, tuple):
        return {"__tuple__": [to_jsonable(v) for v in value]}
    if isinstance(value, list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        _check(all(isinstance(k, str) for k in value), "only dicts with text keys can be saved")
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, float):
        return _float(value)
    _check(value is None or isinstance(value, (bool, int, str)),
           f"a value of type {type(value).__name__} cannot be saved in a result")
    return value


# What a file may ask for, checked before anything is allocated: a crafted 125-byte file
# with "dtype": "S1000000000" asked numpy for 3.7 GiB, deep nesting overflowed the stack.
DTYPES = frozenset(["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                    "uint64", "float16", "float32", "float64"])
MAX_DEPTH = 64               # results nest a few levels; arrays add one per dimension (<= 8)
MAX_DIMS = 8
FLOAT_TAGS = ("nan", "inf", "-inf")


def _unfloat(x, depth: int = 0):
    if depth > MAX_DEPTH:
        raise ValueError("an array is nested too deeply")
    if isinstance(x, dict):
        _check(x.get("__float__") in FLOAT_TAGS, "an array holds a value that is not a number")
        return float(x["__float__"])
    if isinstance(x, list):
        return [_unfloat(v, depth + 1) for v in x]
    _check(isinstance(x, (int, float)) and not isinstance(x, str),
           "an array holds a value that is not a number")
    return x


def _leaves(x, shape: list[int], depth: int = 0) -> None:
    """Check nested lists `x` have exactly `shape` (so the array's size is what the file
    holds, never what it claims)."""
    if depth == len(shape):
        _check(not isinstance(x, list), "an array has more levels than its shape says")
        return
    _check(isinstance(x, list) and len(x) == shape[depth],
           "an array's values do not match its shape")
    for v in x:
        _leaves(v, shape, depth + 1)


def _array(data: dict) -> np.ndarray:
    dtype, shape, values = data.get("dtype"), data.get("shape"), data["__ndarray__"]
    _check(isinstance(dtype, str) and dtype in DTYPES,
           f"an array has dtype {str(dtype)[:20]!r}; a result holds only "
           "bool, int, uint and float arrays")
    _check(isinstance(shape, list) and len(shape) <= MAX_DIMS
           and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape),
           f"an array's shape must be a list of at most {MAX_DIMS} whole numbers")
    _leaves(values, shape)
    return np.array(_unfloat(values), dtype=np.dtype(dtype)).reshape(shape)


def from_jsonable(data, depth: int = 0):
    """The inverse of `to_jsonable`. Raises ValueError / TypeError for anything a saved
    result cannot hold (a depth past MAX_DEPTH, an unknown type or dtype, a wrong shape)."""
    if depth > MAX_DEPTH:
        raise ValueError(f"the file is nested more than {MAX_DEPTH} levels deep")
    if isinstance(data, list):
        return [from_jsonable(v, depth + 1) for v in data]
    if not isinstance(data, dict):
        return data
    if "__result__" in data:
        cls = RESULT_TYPES.get(data["__result__"]) if isinstance(data["__result__"], str) else None
        _check(cls is not None, f"unknown result type {str(data['__result__'])[:40]!r} in the file")
        fields = data.get("fields")
        _check(isinstance(fields, dict), f"the {cls.__name__} in the file has no fields")
        return cls(**{k: from_jsonable(v, depth + 1) for k, v in fields.items()})
    if "__ndarray__" in data:
        return _array(data)
    if "__tuple__" in data:
        _check(isinstance(data["__tuple__"], list), "a tuple in the file is not a list")
        return tuple(from_jsonable(v, depth + 1) for v in data["__tuple__"])
    if "__float__" in data:
        _check(data["__float__"] in FLOAT_TAGS, "a number in the file is not nan, inf or -inf")
        return float(data["__float__"])
    return {k: from_jsonable(v, depth + 1) for k, v in data.items()}


def results_equal(a, b) -> bool:
    """Deep equality for results: same classes, arrays equal (dtype, shape, values; nan == nan)."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(
            results_equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f")))
    if isinstance(a, (list, tuple)):
        return (type(a) is type(b) and len(a) == len(b)
                and all(results_equal(x, y) for x, y in zip(a, b)))
    if isinstance(a, dict):
        return (isinstance(b, dict) and a.keys() == b.keys()
                and all(results_equal(a[k], b[k]) for k in a))
    number = (int, float, np.integer, np.floating)
    if isinstance(a, number) and isinstance(b, number) and not isinstance(a, bool):
        return not isinstance(b, bool) and (float(a) == float(b)
                                            or (math.isnan(float(a)) and math.isnan(float(b))))
    return type(a) is type(b) and a == b
