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
never an object of the student's making. Everything is bounded *before* it is parsed, since the
sandbox can write any bytes to its answer pipe: the frame size, the JSON header size, the nesting
depth (a scan of the header, not recursion), the number of values, the size of integers, and the
archive's central directory (entry count and size, read from its end record; members must be
stored uncompressed, so no archive expands in memory). Any failure is a :class:`WireError`.

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

MAX_FRAME_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 32
MAX_ITEMS = 100_000
MAX_ARRAYS = 4096                 # members of the .npz archive
MAX_DIRECTORY_BYTES = 1 << 20     # its central directory
MAX_INT_BITS = 1024
_ARRAY_KINDS = "biuf"
MAX_ITEMSIZE = 8                  # no long double (float96/128): the judges compute in float64


def _plain_dtype(dtype: np.dtype) -> bool:
    """bool, int8..int64, uint8..uint64, float16/32/64: what the grader compares, nothing wider."""
    return dtype.kind in _ARRAY_KINDS and dtype.fields is None and dtype.itemsize <= MAX_ITEMSIZE


class WireError(ValueError):
    """A message that is not well-formed plain data."""


def _describe(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"an array of dtype {v.dtype}"
    return f"an object of type {type(v).__module__}.{type(v).__qualname__}"


def _to_plain(value: Any, arrays: dict[str, np.ndarray], depth: int, lenient: bool, where: str = "") -> Any:
    """Turn ``value`` into a JSON tree; ``lenient`` also converts NumPy scalars and torch tensors.

    ``where`` locates ``value`` in the returned structure (``[1]["progress"]``) for error messages."""
    at = f" (at returned value{where})" if where else ""
    if depth > MAX_DEPTH:
        raise WireError(f"values nested more than {MAX_DEPTH} levels deep")
    t = type(value)
    if t is int and value.bit_length() > MAX_INT_BITS:   # refused at once: printing it would take seconds
        raise WireError(f"an integer of more than {MAX_INT_BITS} bits{at}")
    if value is None or t is bool or t is int or t is str:
        return value
    if t is float:
        return value if math.isfinite(value) else {"$float": repr(value)}
    if t is np.ndarray:
        if lenient and value.dtype.kind == "f" and value.dtype.itemsize > MAX_ITEMSIZE:
            value = value.astype(np.float64)          # long double: the value the judges would compute with
        if not _plain_dtype(value.dtype):
            raise WireError(f"arrays must hold numbers or bools, not dtype {value.dtype}{at}")
        key = f"a{len(arrays)}"
        arrays[key] = value if value.flags.c_contiguous else value.copy(order="C")   # (ascontiguousarray makes 0-d 1-d)
        return {"$nd": key}
    if t is tuple:
        return {"$tuple": [_to_plain(v, arrays, depth + 1, lenient, f"{where}[{i}]") for i, v in enumerate(value)]}
    if t is list:
        return [_to_plain(v, arrays, depth + 1, lenient, f"{where}[{i}]") for i, v in enumerate(value)]
    if t is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise WireError(f"dict keys must be str, got {_describe(k)}{at}")
            out[k] = _to_plain(v, arrays, depth + 1, lenient, f"{where}[{k[:20]!r}]")
        return {"$dict": out}
    if lenient:
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating):
            return _to_plain(float(value), arrays, depth, lenient, where)
        if isinstance(value, np.ndarray):  # a subclass: keep the data, drop the class
            return _to_plain(np.array(value, subok=False), arrays, depth, lenient, where)
        if type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach"):
            return _to_plain(value.detach().cpu().numpy().copy(), arrays, depth, lenient, where)
    raise WireError(f"{_describe(value)} is not plain data (expected arrays, numbers, str, None, "
                    "or tuples/lists/dicts of those)" + at)


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
    if t is int and tree.bit_length() > MAX_INT_BITS:
        raise WireError(f"an integer of more than {MAX_INT_BITS} bits")
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
            if type(arr) is not np.ndarray or not _plain_dtype(arr.dtype):
                raise WireError(f"arrays must hold numbers or bools, not dtype {arr.dtype}")
            return arr
        if tag == "$tuple" and type(body) is list:
            return tuple(_from_plain(v, arrays, used, depth + 1, count) for v in body)
        if tag == "$dict" and type(body) is dict:
            return {k: _from_plain(v, arrays, used, depth + 1, count) for k, v in body.items()}
        if tag == "$float" and body in ("nan", "inf", "-inf"):
            return float(body)
    raise WireError(f"unexpected JSON value of type {t.__name__}")


def _check_depth(header: bytes) -> None:
    """Refuse JSON nested deeper than the decoder accepts, without recursing (brackets inside
    strings do not count)."""
    depth = 0
    for m in _JSON_TOKENS.finditer(header):
        tok = m.group()
        if tok in (b"[", b"{"):
            depth += 1
            if depth > 2 * MAX_DEPTH + 2:   # a tuple / dict / array costs two levels of JSON
                raise WireError(f"values nested more than {MAX_DEPTH} levels deep")
        elif tok in (b"]", b"}"):
            depth -= 1


_JSON_TOKENS = __import__("re").compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _check_archive(data: bytes) -> None:
    """Bound an .npz (zip) archive before ``zipfile`` reads it: entry count and central-directory
    size from the end record, no zip64 end record, every member stored (not compressed)."""
    if not data:
        return
    tail_start = max(0, len(data) - (22 + 65535))
    if data[-22:-18] == b"PK\x05\x06" and data[-2:] == b"\x00\x00":   # as zipfile looks for it
        pos = len(data) - 22
    else:
        pos = data.rfind(b"PK\x05\x06", tail_start)
    if pos < 0 or len(data) - pos < 22:
        raise WireError("bad array archive: no end-of-archive record")
    (_sig, disk, cd_disk, n_here, n_total, cd_size, cd_offset, _comment) = struct.unpack(
        "<IHHHHIIH", data[pos:pos + 22])
    if pos >= 20 and data[pos - 20:pos - 16] == b"PK\x06\x07":
        raise WireError("bad array archive: zip64 end records are not accepted")
    if disk or cd_disk or n_here != n_total or n_total > MAX_ARRAYS:
        raise WireError(f"bad array archive: {n_total} members (at most {MAX_ARRAYS})")
    if cd_size > MAX_DIRECTORY_BYTES or cd_size > pos or cd_offset > pos:
        raise WireError(f"bad array archive: a central directory of {cd_size} bytes")
    # walk the central directory: count, compression, sizes
    p, end, seen = pos - cd_size, pos, 0
    while p < end:
        if data[p:p + 4] != b"PK\x01\x02" or end - p < 46:
            raise WireError("bad array archive: malformed central directory")
        method = struct.unpack("<H", data[p + 10:p + 12])[0]
        csize, usize = struct.unpack("<II", data[p + 20:p + 28])
        n, m, k = struct.unpack("<HHH", data[p + 28:p + 34])
        if method != 0:
            raise WireError("bad array archive: compressed members are not accepted")
        if csize != usize and csize != 0xFFFFFFFF:
            raise WireError("bad array archive: inconsistent member sizes")
        seen += 1
        p += 46 + n + m + k
    if seen != n_total:
        raise WireError("bad array archive: its directory does not match its end record")


def decode(body: bytes) -> Any:
    """Parse one message body into plain data, checking every type (see module docstring).

    Raises :class:`WireError` for anything else -- never another exception type.
    """
    if len(body) < 4:
        raise WireError("truncated message")
    (n,) = struct.unpack(">I", body[:4])
    if n > len(body) - 4:
        raise WireError("truncated JSON header")
    if n > MAX_HEADER_BYTES:
        raise WireError(f"a JSON header of {n} bytes (at most {MAX_HEADER_BYTES})")
    header = body[4:4 + n]
    _check_depth(header)
    try:
        tree = json.loads(header.decode("utf-8"), parse_constant=_reject_constant)
    except WireError:
        raise
    except (ValueError, RecursionError, MemoryError) as exc:  # bad JSON, UTF-8, int digit limit, nesting
        raise WireError(f"header is not acceptable JSON: {type(exc).__name__}: {str(exc)[:200]}") from None
    archive = body[4 + n:]
    _check_archive(archive)
    try:
        with np.load(io.BytesIO(archive), allow_pickle=False) as arrays:
            return _from_plain(tree, arrays, set(), 0, [0])
    except WireError:
        raise
    except Exception as exc:  # zipfile / npy format / pickle refusal / anything else
        raise WireError(f"bad array archive: {type(exc).__name__}: {str(exc)[:200]}") from None


def write_frame(fd: int, body: bytes, deadline: float | None = None) -> None:
    """Write one length-prefixed frame to a file descriptor.

    With a ``deadline`` (a ``time.monotonic()`` value) the descriptor must be non-blocking
    (``os.set_blocking(fd, False)``): a reader that stops reading then raises ``TimeoutError`` at the
    deadline instead of blocking the writer forever.
    """
    data = struct.pack(">Q", len(body)) + body
    view = memoryview(data)
    while view:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise TimeoutError("the other side did not read before the deadline")
        try:
            n = os.write(fd, view[: 1 << 16])
        except BlockingIOError:
            continue
        view = view[n:]


def read_frame(fd: int, max_bytes: int = MAX_FRAME_BYTES, deadline: float | None = None) -> bytes:
    """Read one frame written by :func:`write_frame`.

    Blocks until the frame is complete, or until ``deadline`` (a ``time.monotonic()`` value) when
    given, then raises ``TimeoutError``; raises ``EOFError`` when the pipe closes.
    """
    head = _read_exact(fd, 8, deadline)
    (n,) = struct.unpack(">Q", head)
    if n > max_bytes:
        raise WireError(f"a message of {n / 2**20:.0f} MB is larger than the {max_bytes / 2**20:.0f} MB limit")
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
