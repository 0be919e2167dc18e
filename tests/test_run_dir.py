"""TensorBoard runs go under the course's runs/ (or $COURSE_RUNS_DIR), are emptied on a fresh start and announced."""

from __future__ import annotations

import pytest

from course_utils.monitoring import TensorBoardLogger, run_dir, runs_root
from course_utils.notebooks import COURSE_ROOT


def test_default_root_is_the_git_ignored_runs_folder(monkeypatch):
    monkeypatch.delenv("COURSE_RUNS_DIR", raising=False)
    assert runs_root() == COURSE_ROOT / "runs"
    assert "runs/" in (COURSE_ROOT / ".gitignore").read_text().split()


def test_run_dir_is_fresh_printed_and_confined(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    d = run_dir("08_monitoring")
    assert d == tmp_path / "runs" / "08_monitoring" and d.is_dir()
    out = capsys.readouterr().out
    assert f"tensorboard --logdir {d}" in out and "%tensorboard --logdir runs/08_monitoring" in out
    with TensorBoardLogger(d / "a") as log:
        log.scalars(0, loss=1.0)
    assert list((d / "a").glob("events.out.tfevents.*"))
    d2 = run_dir("08_monitoring", show=False)          # a second execution starts empty
    assert d2 == d and not any(d.iterdir())
    (d / "keep").mkdir()
    run_dir("08_monitoring", fresh=False, show=False)
    assert (d / "keep").is_dir()
    for bad in ["", "..", "../elsewhere", "/tmp"]:
        with pytest.raises(ValueError, match="give a folder name inside"):
            run_dir(bad)
