"""Plain data across the sandbox boundary: JSON plus an ``.npz`` archive, never pickle.

A message is one frame: an 8-byte big-endian length, then a 4-byte length of the JSON header, the
UTF-8 JSON header, and an ``.npz`` archive holding the arrays the header refers to.

Plain data (see :mod:`course_utils.grader.spec`): ``np.ndarray`` of a numeric or bool dtype, ``int``,
``float``, ``bool``, ``str``, ``None``, and ``tuple`` / ``list`` / ``dict`` with ``str`` keys of those.
In the JSON tree an array is ``{"$nd": "a0"}`` (a member of the archive), a tuple is
``{"$tuple": [...]}``, a dict is ``{"$dict": {...}}`` and a non-finite float is ``{"$float": "nan"}``.

:func:`decode` is what the trusted grader applies to anything coming *out* of the sandbox: it checks
exact types, rejects object/structured dtypes (arrays are loaded with ``allow_pickle=False``), bounds
sizes and nesting, and so returns only genuine built-in values and base-class ``ndarray`` objects --
never an object of the student's making.

This module imports only the standard library and NumPy: the sandbox loads it by file path.
"""

from __future__ import annotations

import io
import json
import math
import os
import select
import struct
import time
from typing import Any

import numpy as np

__all__ = ["WireError", "encode", "decode", "write_frame", "read_frame", "MAX_FRAME_BYTES"]

MAX_FRAME_BYTES = 256 * 1024 * 1024
MAX_DEPTH = 32
MAX_ITEMS = 100_000
_ARRAY_KINDS = "biuf"


class WireError(ValueError):
    """A message that is not well-formed plain data."""


def _describe(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"an array of dtype {v.dtype}"
    return f"an object of type {type(v).__module__}.{type(v).__qualname__}"


def _to_plain(value: Any, arrays: dict[str, np.ndarray], depth: int, lenient: bool) -> Any:
    """Turn ``value`` into a JSON tree; ``lenient`` also converts NumPy scalars and torch tensors."""
    if depth > MAX_DEPTH:
        raise WireError(f"values nested more than {MAX_DEPTH} levels deep")
    t = type(value)
    if value is None or t is bool or t is int or t is str:
        return value
    if t is float:
        return value if math.isfinite(value) else {"$float": repr(value)}
    if t is np.ndarray:
        if value.dtype.kind not in _ARRAY_KINDS:
            raise WireError(f"arrays must hold numbers or bools, not dtype {value.dtype}")
        key = f"a{len(arrays)}"
        arrays[key] = np.ascontiguousarray(value)
        return {"$nd": key}
    if t is tuple:
        return {"$tuple": [_to_plain(v, arrays, depth + 1, lenient) for v in value]}
    if t is list:
        return [_to_plain(v, arrays, depth + 1, lenient) for v in value]
    if t is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise WireError(f"dict keys must be str, got {_describe(k)}")
            out[k] = _to_plain(v, arrays, depth + 1, lenient)
        return {"$dict": out}
    if lenient:
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating):
            return _to_plain(float(value), arrays, depth, lenient)
        if isinstance(value, np.ndarray):  # a subclass: keep the data, drop the class
            return _to_plain(np.array(value, subok=False), arrays, depth, lenient)
        if type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach"):
            return _to_plain(value.detach().cpu().numpy().copy(), arrays, depth, lenient)
    raise WireError(f"{_describe(value)} is not plain data (expected arrays, numbers, str, None, "
                    "or tuples/lists/dicts of those)")


def encode(value: Any, *, lenient: bool = False) -> bytes:
    """Serialise plain data to one message body (no frame length)."""
    arrays: dict[str, np.ndarray] = {}
    tree = _to_plain(value, arrays, 0, lenient)
    header = json.dumps(tree, allow_nan=False).encode("utf-8")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return struct.pack(">I", len(header)) + header + buf.getvalue()


def _reject_constant(name: str) -> Any:
    raise WireError(f"bare {name} in JSON; non-finite floats travel as {{'$float': ...}}")


def _from_plain(tree: Any, arrays: Any, used: set[str], depth: int, count: list[int]) -> Any:
    count[0] += 1
    if count[0] > MAX_ITEMS:
        raise WireError(f"more than {MAX_ITEMS} values in one message")
    if depth > MAX_DEPTH:
        raise WireError(f"values nested more than {MAX_DEPTH} levels deep")
    t = type(tree)
    if tree is None or t is bool or t is int or t is str:
        return tree
    if t is float:
        return tree
    if t is list:
        return [_from_plain(v, arrays, used, depth + 1, count) for v in tree]
    if t is dict and len(tree) == 1:
        (tag, body), = tree.items()
        if tag == "$nd" and type(body) is str:
            if body not in arrays.files or body in used:
                raise WireError(f"array reference {body!r} is missing or used twice")
            used.add(body)
            arr = arrays[body]  # allow_pickle=False: object arrays raise ValueError here
            if type(arr) is not np.ndarray or arr.dtype.kind not in _ARRAY_KINDS or arr.dtype.fields is not None:
                raise WireError(f"arrays must hold numbers or bools, not dtype {arr.dtype}")
            return arr
        if tag == "$tuple" and type(body) is list:
            return tuple(_from_plain(v, arrays, used, depth + 1, count) for v in body)
        if tag == "$dict" and type(body) is dict:
            return {k: _from_plain(v, arrays, used, depth + 1, count) for k, v in body.items()}
        if tag == "$float" and body in ("nan", "inf", "-inf"):
            return float(body)
    raise WireError(f"unexpected JSON value of type {t.__name__}")


def decode(body: bytes) -> Any:
    """Parse one message body into plain data, checking every type (see module docstring)."""
    if len(body) < 4:
        raise WireError("truncated message")
    (n,) = struct.unpack(">I", body[:4])
    if n > len(body) - 4:
        raise WireError("truncated JSON header")
    try:
        tree = json.loads(body[4:4 + n].decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"header is not JSON: {exc}") from None
    try:
        with np.load(io.BytesIO(body[4 + n:]), allow_pickle=False) as arrays:
            return _from_plain(tree, arrays, set(), 0, [0])
    except WireError:
        raise
    except Exception as exc:  # zipfile / npy format / pickle refusal
        raise WireError(f"bad array archive: {type(exc).__name__}: {exc}") from None


def write_frame(fd: int, body: bytes) -> None:
    """Write one length-prefixed frame to a file descriptor."""
    data = struct.pack(">Q", len(body)) + body
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_frame(fd: int, max_bytes: int = MAX_FRAME_BYTES, deadline: float | None = None) -> bytes:
    """Read one frame written by :func:`write_frame`.

    Blocks until the frame is complete, or until ``deadline`` (a ``time.monotonic()`` value) when
    given, then raises ``TimeoutError``; raises ``EOFError`` when the pipe closes.
    """
    head = _read_exact(fd, 8, deadline)
    (n,) = struct.unpack(">Q", head)
    if n > max_bytes:
        raise WireError(f"message of {n} bytes is larger than the {max_bytes} byte limit")
    return _read_exact(fd, n, deadline)


def _read_exact(fd: int, n: int, deadline: float | None = None) -> bytes:
    chunks = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("no answer before the deadline")
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the pipe")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
