"""`course workspace`: students' copies of the notebooks, never overwritten, self-ignored by git."""

from __future__ import annotations

import pytest

from course_utils.cli import main
from course_utils.workspace import sync_workspace


def _course(tmp_path):
    src = tmp_path / "course"
    for folder, name in [("lectures", "03_x.ipynb"), ("labs", "03_x_lab.ipynb")]:
        (src / folder).mkdir(parents=True, exist_ok=True)
        (src / folder / name).write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n')
    return src


def test_copies_keeps_and_resets(tmp_path):
    src, ws = _course(tmp_path), tmp_path / "ws"
    r = sync_workspace(ws, source=src)
    assert sorted(p.relative_to(ws).as_posix() for p in r.copied) == ["labs/03_x_lab.ipynb", "lectures/03_x.ipynb"]
    assert (ws / ".gitignore").read_text().splitlines()[-1] == "*"
    mine = ws / "labs" / "03_x_lab.ipynb"
    mine.write_text("my work")
    (src / "lectures" / "04_y.ipynb").write_text((src / "lectures" / "03_x.ipynb").read_text())   # a new unit
    r = sync_workspace(ws, source=src)
    assert [p.name for p in r.copied] == ["04_y.ipynb"] and mine.read_text() == "my work"
    sync_workspace(ws, source=src, reset=["03_x_lab.ipynb"])
    assert mine.read_text().startswith("{") and (ws / "labs" / "03_x_lab.ipynb.bak").read_text() == "my work"
    with pytest.raises(ValueError, match="not a course notebook"):
        sync_workspace(ws, source=src, reset=["nope.ipynb"])


def test_command_line(tmp_path, capsys):
    ws = tmp_path / "ws"
    assert main(["workspace", "--dir", str(ws)]) == 0
    assert (ws / "lectures" / "03_rnn_basics.ipynb").is_file() and (ws / "labs" / "03_rnn_basics_lab.ipynb").is_file()
    assert "notebook(s) copied" in capsys.readouterr().out
    assert main(["workspace", "--dir", str(ws), "--reset", "nope.ipynb"]) == 2
