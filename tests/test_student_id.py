"""One student id rule for submit() and `course grade`."""

from __future__ import annotations

import getpass
from pathlib import Path

from course_utils.grader.cli import collect_submissions
from course_utils.grader.student import student_id


def test_environment_variable_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_STUDENT_ID", "  s1234567 ")
    assert student_id() == "s1234567"
    assert student_id("labs/03_rnn_basics_lab.ipynb") == "s1234567"
    assert collect_submissions([Path("labs/03_rnn_basics_lab.ipynb")]) == [(Path("labs/03_rnn_basics_lab.ipynb"), "s1234567")]


def test_without_it_submit_and_grade_agree(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_STUDENT_ID", raising=False)
    login = getpass.getuser()
    lab = Path("labs/03_rnn_basics_lab.ipynb")
    assert student_id(lab) == login == collect_submissions([lab])[0][1]    # what submit() records
    assert student_id("03_rnn_basics_lab-Copy1.ipynb") == login
    assert collect_submissions([Path("alice.ipynb")])[0][1] == "alice" == student_id("alice.ipynb")
    # in a folder of submissions the folder structure names the students, whatever the environment says
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "03_rnn_basics_lab.ipynb").write_text("{}")
    monkeypatch.setenv("COURSE_STUDENT_ID", "me")
    assert [sid for _, sid in collect_submissions([tmp_path])] == ["bob"]
