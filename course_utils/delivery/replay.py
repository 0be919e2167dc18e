"""Recorded reference calls: what the student edition's public checks use instead of the reference code.

A public check compares the student's answer on fixed inputs with a reference computed by the lab spec
(``expected = _clip(grads, 6.5)``). When that reference is the answer itself, the student edition must
not ship its code: :mod:`course_utils.delivery.spec_split` records, in the instructor's checkout, every
call the public checks make to it (arguments and result), and the edition binds the name to
:func:`recorded`, which answers a call by looking its arguments up in that table.

Arguments are matched structurally (types, shapes, dtypes, strings and integers exactly) and floats
within a relative 1e-9, so inputs that a different BLAS kernel computes a few ulps apart still match.
Tables are ``.npz`` files (one JSON index plus arrays) read with ``allow_pickle=False``.

Plain values only: ``None``, ``bool``, ``int``, ``float``, ``str``, NumPy arrays and scalars, and
``tuple`` / ``list`` / ``dict[str, ...]`` of those; anything else raises :class:`Unrecordable`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Unrecordable", "encode_calls", "save_table", "load_table", "recorded", "same_value", "TABLE_DIR"]

TABLE_DIR = "_recorded"          # beside the lab spec modules: course_utils/grader/labs/_recorded/<module>.npz
_REL_TOL = 1e-9
_CASE_FIELDS = ("func", "kwargs", "seed", "returns_kwargs", "label", "provide")


class Unrecordable(TypeError):
    """A value that is not plain data cannot be recorded."""


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def _array(self, a: np.ndarray) -> str:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.ascontiguousarray(a)
        return key

    def enc(self, v: Any) -> Any:
        if v is None:
            return {"t": "none"}
        if type(v) is bool:
            return {"t": "bool", "v": v}
        if type(v) is int:
            return {"t": "int", "v": str(v)}
        if type(v) is float:
            return {"t": "float", "v": v.hex()}
        if type(v) is str:
            return {"t": "str", "v": v}
        if isinstance(v, np.ndarray) and type(v) is np.ndarray:
            if v.dtype.kind not in "biufc":
                raise Unrecordable(f"array of dtype {v.dtype}")
            return {"t": "nd", "k": self._array(v)}
        if isinstance(v, np.generic) and v.dtype.kind in "biufc":
            return {"t": "np", "k": self._array(np.asarray(v))}
        if type(v) in (tuple, list):
            return {"t": type(v).__name__, "v": [self.enc(x) for x in v]}
        if type(v) is dict and all(type(k) is str for k in v):
            return {"t": "dict", "v": [[k, self.enc(x)] for k, x in v.items()]}
        if type(v).__name__ == "Case" and type(v).__module__.endswith("grader.spec"):
            return {"t": "case", "v": self.enc({k: getattr(v, k) for k in _CASE_FIELDS})}
        raise Unrecordable(f"a value of type {type(v).__name__}")


def _dec(node: Any, arrays: Any) -> Any:
    t = node["t"]
    if t == "none":
        return None
    if t == "bool":
        return bool(node["v"])
    if t == "int":
        return int(node["v"])
    if t == "float":
        return float.fromhex(node["v"])
    if t == "str":
        return str(node["v"])
    if t == "nd":
        return np.array(arrays[node["k"]])
    if t == "np":
        return np.array(arrays[node["k"]])[()]
    if t in ("tuple", "list"):
        items = [_dec(x, arrays) for x in node["v"]]
        return tuple(items) if t == "tuple" else items
    if t == "dict":
        return {k: _dec(x, arrays) for k, x in node["v"]}
    if t == "case":
        from ..grader.spec import Case
        fields = _dec(node["v"], arrays)
        return Case(**{k: tuple(tuple(p) for p in v) if k == "provide" else tuple(v) if k == "returns_kwargs" else v
                       for k, v in fields.items()})
    raise ValueError(f"unknown node type {t!r} in a recorded table")


def encode_calls(calls: dict[str, list[tuple[tuple, dict, Any]]]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``{function: [(args, kwargs, result), ...]}`` as a JSON index and its arrays."""
    e = _Encoder()
    index = {name: [{"args": e.enc(list(args)), "kwargs": e.enc(dict(kwargs)), "result": e.enc(result)}
                    for args, kwargs, result in entries]
             for name, entries in calls.items()}
    return index, e.arrays


def save_table(path: str | Path, calls: dict[str, list[tuple[tuple, dict, Any]]]) -> int:
    """Write a table of recorded calls; returns its size in bytes."""
    index, arrays = encode_calls(calls)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = np.frombuffer(json.dumps(index, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez_compressed(f, __index__=blob, **arrays)
    return path.stat().st_size


def load_table(path: str | Path) -> dict[str, list[tuple[list, dict, Any]]]:
    """Read a table written by :func:`save_table` (no pickle)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    index = json.loads(arrays.pop("__index__").tobytes().decode("utf-8"))
    return {name: [(_dec(c["args"], arrays), _dec(c["kwargs"], arrays), _dec(c["result"], arrays)) for c in entries]
            for name, entries in index.items()}


def same_value(a: Any, b: Any) -> bool:
    """Structural equality, floats within a relative 1e-9 (see the module docstring)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.shape != b.shape:
            return False
        if a.dtype.kind in "biu" and b.dtype.kind in "biu" or a.dtype.kind == "b" or b.dtype.kind == "b":
            return a.dtype.kind == b.dtype.kind and bool(np.array_equal(a, b))
        if a.dtype.kind not in "fc" or b.dtype.kind not in "fc":
            return False
        return bool(np.allclose(a, b, rtol=_REL_TOL, atol=1e-12, equal_nan=True))
    if isinstance(a, np.generic) or isinstance(b, np.generic):
        return same_value(np.asarray(a), np.asarray(b))
    if type(a).__name__ == "Case" and type(b).__name__ == "Case":
        return all(same_value(getattr(a, k), getattr(b, k)) for k in _CASE_FIELDS)
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or math.isclose(a, b, rel_tol=_REL_TOL, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    return a == b


def _copy(v: Any) -> Any:
    """A fresh copy of a recorded result (a caller may modify what it gets)."""
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, (tuple, list)):
        return type(v)(_copy(x) for x in v)
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    return v


class RecordedCallMissing(AssertionError):
    """A public check called a recorded reference with inputs it was not recorded for."""


def recorded(module: str, name: str) -> Callable[..., Any]:
    """The stand-in for reference function ``name`` of lab spec module ``module`` in the student edition."""
    table_path = Path(__import__(module, fromlist=["__file__"]).__file__).with_name(TABLE_DIR) / \
        f"{module.rsplit('.', 1)[-1]}.npz"
    cache: dict[str, Any] = {}

    def call(*args: Any, **kwargs: Any) -> Any:
        if "entries" not in cache:
            cache["entries"] = load_table(table_path).get(name, [])
        for rec_args, rec_kwargs, result in cache["entries"]:
            if same_value(list(args), rec_args) and same_value(dict(kwargs), rec_kwargs):
                return _copy(result)
        from ..grader.spec import CheckFailed
        raise CheckFailed(
            "this check's expected values were recorded for the course's fixed inputs, and the inputs it has now "
            "differ -- did your function change its input arrays in place? Leave the inputs unchanged (work on "
            "copies), then run the check again")

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"Recorded reference {name} (the student edition ships its results on the public inputs, not its code)."
    return call
