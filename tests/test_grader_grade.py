"""Grading saved notebooks: scores, seeds, bad input, robustness to cell order, no leaks; lab 03."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import grader_toylab as toy
from course_utils.grader.grade import SubmissionError, grade_notebook
from course_utils.grader.registry import all_labs
from course_utils.grader.submit import submit_notebook
from course_utils.notebooks import COURSE_ROOT


@pytest.fixture(autouse=True)
def _toylab(monkeypatch, tmp_path):
    toy.use_toylab(monkeypatch)
    monkeypatch.setenv("COURSE_GRADEBOOK", str(tmp_path / "gb" / "gradebook.sqlite"))


def test_solution_full_marks_blank_zero_and_seed_recorded(tmp_path: Path) -> None:
    sol = grade_notebook(toy.write_lab(tmp_path / "a" / "90_toy_lab.ipynb", toy.SOLUTION))
    assert (sol.total, sol.max) == (4, 4) and all(q.status == "passed" for q in sol.questions)
    blank = grade_notebook(toy.write_lab(tmp_path / "b" / "90_toy_lab.ipynb", toy.BLANK))
    assert blank.total == 0 and {q.status for q in blank.questions} == {"not_implemented"}
    assert sol.seed != blank.seed                            # drawn fresh each time
    again = grade_notebook(tmp_path / "a" / "90_toy_lab.ipynb", seed=sol.seed)
    assert again.seed == sol.seed and again.to_json()["questions"] == sol.to_json()["questions"]
    assert len(sol.sha256) == 64 and sol.grader_version


def test_partial_credit_and_messages_without_hidden_values(tmp_path: Path) -> None:
    cells = toy.SOLUTION + [
        # right only for 1-row inputs: 1 of 3 cases; the error message echoes the input
        "def add_one(x):\n    if x.shape[0] != 1:\n        raise ValueError(f'bad input {x!r}')\n    return x + 1.0",
        "def norm(x):\n    return np.sqrt(np.sum(x ** 2)) + 1e-3",
    ]
    path = toy.write_lab(tmp_path / "90_toy_lab.ipynb", cells)
    r = grade_notebook(path, seed=7)
    q1, q2 = r.questions[0], r.questions[1]
    assert q1.status == "partial" and q1.passed == 1 and q1.score == pytest.approx(2 / 3, abs=1e-3)
    assert "raised ValueError at code cell 6" in q1.message and "bad input" not in q1.message, q1.message
    assert q2.status == "failed" and "relative error" in q2.message
    # neither hidden inputs nor reference outputs appear anywhere in the result
    rng = np.random.default_rng(7)
    hidden = [c.kwargs for q in toy.LAB.questions for c in q.make_cases(rng)]
    dump = json.dumps(r.to_json())
    for kwargs in hidden:
        for v in kwargs.values():
            if isinstance(v, np.ndarray):
                for num in v.ravel()[:3]:
                    assert f"{num:.4f}"[:6] not in dump


def test_deleted_reordered_duplicated_cells(tmp_path: Path) -> None:
    cells = [toy.SOLUTION[3], toy.SOLUTION[2], toy.BLANK[1], toy.SOLUTION[0], toy.SOLUTION[1], toy.SOLUTION[1]]
    r = grade_notebook(toy.write_lab(tmp_path / "90_toy_lab.ipynb", cells))
    assert r.total == 4, [(q.id, q.message) for q in r.questions]
    missing = grade_notebook(toy.write_lab(tmp_path / "m" / "90_toy_lab.ipynb", toy.SOLUTION[:2]))
    assert [q.status for q in missing.questions] == ["passed", "missing", "missing"]
    assert "does not define norm" in missing.questions[1].message


def test_notes_only_for_failures_that_graded_answers_depend_on(tmp_path: Path) -> None:
    """The lab's own demonstration cells may use the course's modules, which graded code cannot: their failure
    changes no score and is not worth a note. A failing statement a graded answer uses is reported, with the
    statement quoted."""
    demo = "from course_utils.data import load_digits_split\nsplit = load_digits_split()"
    quiet = grade_notebook(toy.write_lab(tmp_path / "a" / "90_toy_lab.ipynb", toy.SOLUTION + [demo]))
    assert quiet.total == quiet.max and quiet.notes == []
    uses = ["from course_utils.data import shift_by_one", "def helper(x):\n    return shift_by_one(x)",
            "def add_one(x):\n    return helper(x)"]
    loud = grade_notebook(toy.write_lab(tmp_path / "b" / "90_toy_lab.ipynb", toy.SOLUTION + uses))
    assert loud.questions[0].score == 0
    assert len(loud.notes) == 1 and "course_utils.data is not available" in loud.notes[0]
    assert "from course_utils.data import shift_by_one" in loud.notes[0] and "standard library" in loud.notes[0]


def test_lab_from_file_name_when_metadata_is_missing(tmp_path: Path) -> None:
    r = grade_notebook(toy.write_lab(tmp_path / "90_toy_lab.ipynb", toy.SOLUTION, lab=None))
    assert r.lab == "90_toy" and r.total == 4


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    d = tmp_path / "bad"
    d.mkdir()
    (d / "notjson.ipynb").write_text("{ this is not json")
    (d / "binary.ipynb").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00binary")
    (d / "old.ipynb").write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                                             "worksheets": [{"cells": [], "metadata": {}}]}))
    big = d / "big.ipynb"
    big.write_text('{"cells": [], "pad": "' + "x" * (21 * 1024 * 1024) + '"}')
    return {
        "not json": (d / "notjson.ipynb", "not valid notebook JSON"),
        "binary": (d / "binary.ipynb", "binary file"),
        "wrong nbformat": (d / "old.ipynb", "nbformat 3"),
        "too large": (big, "MB limit"),
        "not a course lab": (toy.write_lab(d / "homework.ipynb", toy.SOLUTION, lab=None), "not a lab of this course"),
        "unknown lab": (toy.write_lab(d / "x.ipynb", toy.SOLUTION, lab="99_nope"), "not a lab of this course"),
    }


def test_bad_input_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    for what, (path, expected) in _bad_inputs(tmp_path).items():
        with pytest.raises(SubmissionError, match=expected):
            grade_notebook(path)
    with pytest.raises(SubmissionError, match="not lab 03_rnn_basics"):
        grade_notebook(toy.write_lab(tmp_path / "90_toy_lab.ipynb", toy.SOLUTION), expect_lab="03_rnn_basics")


def test_submit_grades_the_saved_notebook_found_from_the_session(tmp_path: Path, monkeypatch, capsys) -> None:
    path = toy.write_lab(tmp_path / "work" / "90_toy_lab.ipynb", toy.SOLUTION)
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    monkeypatch.setenv("COURSE_STUDENT_ID", "alice")          # submit() records under the runner's own id only
    r = submit_notebook("90_toy", student="alice")
    out = capsys.readouterr().out
    assert r is not None and r.total == 4 and r.student == "alice"
    assert "Grading the saved file" in out and "4/4" in out
    from course_utils.grader.gradebook import Gradebook
    assert [row["student"] for row in Gradebook().rows()] == ["alice"]
    other = toy.write_lab(tmp_path / "03_rnn_basics_lab.ipynb", toy.SOLUTION, lab=None)
    assert submit_notebook("90_toy", path=other) is None                       # wrong lab: refused
    assert "not lab 90_toy" in capsys.readouterr().out


def test_student_submit_is_wired_to_the_grader(tmp_path: Path, monkeypatch) -> None:
    from course_utils.grader import for_lab
    _, submit = for_lab("90_toy")
    monkeypatch.setenv("COURSE_STUDENT_ID", "bob")
    assert submit(path=str(toy.write_lab(tmp_path / "90_toy_lab.ipynb", toy.BLANK))) is None
    from course_utils.grader.gradebook import Gradebook
    rows = [row for row in Gradebook().rows() if row["student"] == "bob"]
    assert len(rows) == 1 and rows[0]["total"] == 0


@pytest.mark.skipif("03_rnn_basics" not in all_labs() or not (COURSE_ROOT / "solutions/03_rnn_basics_lab.ipynb").exists(),
                    reason="lab 03 not written yet")
def test_lab03_solution_full_marks_and_blank_zero() -> None:
    sol = grade_notebook(COURSE_ROOT / "solutions" / "03_rnn_basics_lab.ipynb")
    assert sol.total == sol.max > 0, [(q.id, q.message) for q in sol.questions]
    blank = grade_notebook(COURSE_ROOT / "labs" / "03_rnn_basics_lab.ipynb")
    assert blank.total == 0
    assert all(q.status in ("not_implemented", "missing", "failed") for q in blank.questions)
