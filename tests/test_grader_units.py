"""Grader building blocks: the wire format, statement extraction, reports."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

from course_utils.grader import wire
from course_utils.grader.extract import extract_from_sources
from course_utils.grader.grade import GradeResult, QuestionResult
from course_utils.grader.report import to_html, to_markdown, to_text


# ------------------------------------------------------------------------------------------- wire
def test_wire_round_trip_keeps_exact_types() -> None:
    value = {"a": np.arange(6.0).reshape(2, 3), "t": (1, 2.5, True, None, "s"), "l": [np.int64(3).item()],
             "nan": float("nan"), "b": np.array([True, False])}
    out = wire.decode(wire.encode(value))
    assert type(out) is dict and type(out["t"]) is tuple and type(out["l"]) is list
    assert [type(v) for v in out["t"]] == [int, float, bool, type(None), str]
    assert type(out["a"]) is np.ndarray and out["a"].dtype == np.float64 and np.array_equal(out["a"], value["a"])
    assert np.isnan(out["nan"]) and out["b"].dtype == bool


@pytest.mark.parametrize("bad", [object(), np.array([object()], dtype=object), {1: 2}, {"x": {1, 2}},
                                 np.zeros(2).view(np.recarray)])
def test_wire_refuses_what_is_not_plain_data(bad) -> None:
    with pytest.raises(wire.WireError):
        wire.encode(bad)


def test_wire_lenient_mode_converts_numpy_scalars_and_subclasses() -> None:
    class Sub(np.ndarray):
        def __eq__(self, other):
            return True
    out = wire.decode(wire.encode({"f": np.float32(1.5), "i": np.int64(2), "s": np.ones(2).view(Sub)}, lenient=True))
    assert type(out["f"]) is float and type(out["i"]) is int and type(out["s"]) is np.ndarray


def _message(tree: object, arrays: dict[str, np.ndarray], **savez_kwargs: object) -> bytes:
    header = json.dumps(tree).encode()
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return struct.pack(">I", len(header)) + header + buf.getvalue()


def test_decode_refuses_pickled_object_arrays_and_bare_nan() -> None:
    buf = io.BytesIO()
    np.savez(buf, a0=np.array([{"evil": 1}], dtype=object))  # stored with pickle
    header = json.dumps({"$nd": "a0"}).encode()
    with pytest.raises(wire.WireError):
        wire.decode(struct.pack(">I", len(header)) + header + buf.getvalue())
    with pytest.raises(wire.WireError):
        wire.decode(struct.pack(">I", 3) + b"NaN" + _message(None, {})[7:])
    with pytest.raises(wire.WireError, match="missing or used twice"):
        wire.decode(_message([{"$nd": "a0"}, {"$nd": "a0"}], {"a0": np.zeros(1)}))
    with pytest.raises(wire.WireError):
        wire.decode(_message({"$weird": 1}, {}))
    with pytest.raises(wire.WireError):
        wire.decode(b"\x00\x00")


# ---------------------------------------------------------------------------------------- extract
def test_extract_keeps_definitions_only_and_last_definition_wins() -> None:
    prog = extract_from_sources([
        "%matplotlib inline\nimport numpy as np\nfrom math import tau as TAU\nN = 3\nNAMES = ['h', 'e']\nx = np.zeros(3)",
        "def f(x):\n    return 1\n\nf(2)\ncheck('q1')\nfor i in range(10**9):\n    pass",
        "def f(x)\n    return 2",                     # syntax error: skipped and reported
        "!ls\nclass C:\n    pass\n@staticmethod\ndef g():\n    return 3",
        "def f(x):\n    return 3",                     # duplicate: this one wins
    ])
    kinds = [(u.kind, u.names) for u in prog.units]
    assert ("import", ("np",)) in kinds and ("import", ("TAU",)) in kinds
    assert ("assign", ("N",)) in kinds and ("assign", ("NAMES",)) in kinds
    assert not any("x" in names for _, names in kinds)               # non-literal assignment dropped
    defs_f = [u for u in prog.units if u.names == ("f",)]
    assert len(defs_f) == 1 and "return 3" in defs_f[0].source and defs_f[0].cell == 4
    g = next(u for u in prog.units if u.names == ("g",))
    assert g.source.startswith("@staticmethod") and g.line == 4
    assert len(prog.problems) == 1 and "code cell 3" in prog.problems[0] and "syntax error" in prog.problems[0]
    assert not any("check" in u.source or "range" in u.source for u in prog.units)


# ----------------------------------------------------------------------------------------- report
def _result(message: str = "1 of 3 tests passed; first problem: <script>alert(1)</script> | x") -> GradeResult:
    return GradeResult(lab="90_toy", lab_title="Toy lab", student="s", path="p.ipynb", sha256="0" * 64, seed=42,
                       questions=[QuestionResult("q1", "add_one", 0.67, 2.0, "partial", message, 1, 3)],
                       started_at="t0", finished_at="t1", duration=1.0, isolation="sandbox: ...",
                       notes=["code cell 2 line 1: syntax error"])


def test_reports_escape_student_text_and_show_scores_and_seed() -> None:
    r = _result()
    html = to_html(r)
    assert "<script>" not in html and "&lt;script&gt;" in html
    md = to_markdown(r)
    assert "<script>" not in md and "0.67 / 2" in md and "42" in md and "syntax error" in md
    assert "0.67/2" in to_text(r)
