"""``course grade`` / ``gradebook`` / ``validate`` as users run them, concurrency of the gradebook."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

import grader_toylab as toy
from course_utils.grader.gradebook import Gradebook
from course_utils.notebooks import COURSE_ROOT


@pytest.fixture(autouse=True)
def _toylab(monkeypatch):
    toy.use_toylab(monkeypatch)


def course(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(toy.course_cmd() + list(args), capture_output=True, text=True, timeout=timeout)


def test_grade_json_folder_jobs_and_gradebook(tmp_path: Path) -> None:
    subs = tmp_path / "submissions"
    toy.write_lab(subs / "alice" / "90_toy_lab.ipynb", toy.SOLUTION)
    toy.write_lab(subs / "bob.ipynb", toy.BLANK)
    toy.write_lab(subs / "carol" / "90_toy_lab.ipynb", toy.SOLUTION[:2])
    (subs / "alice" / ".ipynb_checkpoints").mkdir()
    toy.write_lab(subs / "alice" / ".ipynb_checkpoints" / "90_toy_lab-checkpoint.ipynb", toy.BLANK)
    gb = tmp_path / "gb.sqlite"
    p = course("grade", str(subs), "--json", "--jobs", "2", "--gradebook", str(gb), "--report-dir", str(tmp_path / "rep"))
    assert p.returncode == 0, p.stderr
    results = {r["student"]: r for r in map(json.loads, p.stdout.splitlines())}
    assert set(results) == {"alice", "bob", "carol"}
    assert results["alice"]["total"] == results["alice"]["max"] == 4
    assert results["bob"]["total"] == 0 and results["carol"]["total"] == 2
    for r in results.values():
        assert {"lab", "questions", "total", "max", "seed", "duration"} <= set(r)
        assert {"id", "score", "max", "status", "message"} <= set(r["questions"][0])
    rows = Gradebook(gb).rows()
    assert sorted(r["student"] for r in rows) == ["alice", "bob", "carol"]
    alice = next(r for r in rows if r["student"] == "alice")
    assert alice["seed"] == str(results["alice"]["seed"]) and len(alice["notebook_sha256"]) == 64
    assert json.loads(alice["scores"])["q1"]["score"] == 2
    assert (tmp_path / "rep" / "alice_90_toy.html").exists() and (tmp_path / "rep" / "bob_90_toy.md").exists()

    shown = course("gradebook", "--gradebook", str(gb), "--lab", "90_toy")
    assert shown.returncode == 0 and "alice" in shown.stdout and "4/4" in shown.stdout
    out_csv = tmp_path / "grades.csv"
    assert course("gradebook", "--gradebook", str(gb), "--csv", str(out_csv)).returncode == 0
    table = list(csv.DictReader(out_csv.open()))
    assert len(table) == 3 and {"student", "lab", "total", "seed", "q1", "q2", "q3"} <= set(table[0])


def test_seed_option_reproduces_a_grading(tmp_path: Path) -> None:
    nb = toy.write_lab(tmp_path / "90_toy_lab.ipynb", toy.SOLUTION[:2] + ["def norm(x):\n    return float(x[0])"])
    runs = [json.loads(course("grade", str(nb), "--json", "--seed", "99", "--no-record").stdout) for _ in range(2)]
    assert runs[0]["seed"] == runs[1]["seed"] == 99
    assert runs[0]["questions"] == runs[1]["questions"]


def test_bad_input_exits_nonzero_and_records_nothing(tmp_path: Path) -> None:
    gb = tmp_path / "gb.sqlite"
    (tmp_path / "broken.ipynb").write_text("{not json")
    good = toy.write_lab(tmp_path / "ok" / "90_toy_lab.ipynb", toy.SOLUTION)
    p = course("grade", str(tmp_path / "broken.ipynb"), "--gradebook", str(gb))
    assert p.returncode == 2 and "not valid notebook JSON" in p.stderr
    assert Gradebook(gb).rows() == []
    p = course("grade", str(good), "--lab", "03_rnn_basics", "--gradebook", str(gb), "--json")
    assert p.returncode == 2 and "not lab 03_rnn_basics" in p.stderr and "error" in json.loads(p.stdout)
    assert Gradebook(gb).rows() == []
    p = course("grade", str(tmp_path / "missing.ipynb"), "--gradebook", str(gb))
    assert p.returncode == 2 and "no such file" in p.stderr


def test_twenty_concurrent_grade_processes_lose_nothing(tmp_path: Path) -> None:
    gb = tmp_path / "shared" / "gradebook.sqlite"
    notebooks = [toy.write_lab(tmp_path / f"s{i:02d}" / "90_toy_lab.ipynb", toy.SOLUTION if i % 2 else toy.BLANK)
                 for i in range(20)]
    procs = [subprocess.Popen(toy.course_cmd() + ["grade", str(nb), "--student", f"student{i:02d}",
                                                  "--gradebook", str(gb), "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, nb in enumerate(notebooks)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    rows = Gradebook(gb).rows()
    assert sorted(r["student"] for r in rows) == [f"student{i:02d}" for i in range(20)]
    assert {r["student"]: r["total"] for r in rows} == {f"student{i:02d}": 4.0 if i % 2 else 0.0 for i in range(20)}
    with sqlite3.connect(gb) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _mutant_setup(tmp_path: Path, mutant: str) -> Path:
    """A course folder for lab 90_toy with solution, blank and one mutant."""
    root = tmp_path / "course"
    toy.write_lab(root / "solutions" / "90_toy_lab.ipynb", toy.SOLUTION)
    toy.write_lab(root / "labs" / "90_toy_lab.ipynb", toy.BLANK)
    (root / "tests" / "mutants" / "90_toy").mkdir(parents=True)
    (root / "tests" / "mutants" / "90_toy" / "m.py").write_text(mutant)
    return root


def test_validate_detects_good_and_useless_mutants(tmp_path: Path) -> None:
    from course_utils.grader.validate import format_table, validate_all
    root = _mutant_setup(tmp_path, "# mutant: off by one; expect: q1\ndef add_one(x):\n    return x + 2.0\n")
    checks = validate_all(lab="90_toy", root=root, jobs=1)
    assert [c.ok for c in checks] == [True, True, True], format_table(checks)
    # a "mutant" that is actually correct must make validate fail, naming it
    root2 = _mutant_setup(tmp_path / "2", "# mutant: harmless; expect: q2\ndef norm(x):\n    return float(np.linalg.norm(x))\n")
    checks = validate_all(lab="90_toy", root=root2, jobs=1)
    assert [c.ok for c in checks] == [True, True, False]
    assert "still full marks on q2" in format_table(checks)
    root3 = _mutant_setup(tmp_path / "3", "def add_one(x):\n    return x\n")
    bad = validate_all(lab="90_toy", root=root3, jobs=1)[-1]
    assert not bad.ok and "first line must be" in bad.detail


def test_validate_command_on_the_course() -> None:
    p = course("validate", timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    if (COURSE_ROOT / "solutions" / "03_rnn_basics_lab.ipynb").exists():
        assert "03_rnn_basics" in p.stdout and "FAIL" not in p.stdout


def test_unchanged_submissions_are_skipped_unless_forced_and_canvas_export(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    toy.write_lab(subs / "alice" / "90_toy_lab.ipynb", toy.SOLUTION)
    toy.write_lab(subs / "bob" / "90_toy_lab.ipynb", toy.BLANK)
    gb = tmp_path / "gb.sqlite"
    first = course("grade", str(subs), "--json", "--gradebook", str(gb), "--no-progress")
    assert first.returncode == 0, first.stderr
    toy.write_lab(subs / "bob" / "90_toy_lab.ipynb", toy.SOLUTION[:2] + toy.BLANK[2:])   # bob changed his work
    again = course("grade", str(subs), "--json", "--gradebook", str(gb), "--no-progress")
    assert again.returncode == 0, again.stderr
    out = {r["student"]: r for r in map(json.loads, again.stdout.splitlines())}
    assert out["alice"]["skipped"] == "unchanged" and out["alice"]["total"] == 4
    assert "skipped" not in out["bob"] and out["bob"]["total"] == 2
    assert len(Gradebook(gb).rows()) == 3
    forced = course("grade", str(subs), "--json", "--gradebook", str(gb), "--force", "--no-progress")
    assert forced.returncode == 0 and not any("skipped" in json.loads(x) for x in forced.stdout.splitlines())
    assert len(Gradebook(gb).rows()) == 5

    canvas = tmp_path / "canvas.csv"
    p = course("gradebook", "--gradebook", str(gb), "--format", "canvas", "--csv", str(canvas))
    assert p.returncode == 0, p.stderr
    rows = list(csv.reader(canvas.open()))
    assert rows[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert rows[0][5] == "Toy lab (90_toy)" and rows[1][0] == "Points Possible" and rows[1][5] == "4"
    table = {r[0]: r for r in rows[2:]}
    assert set(table) == {"alice", "bob"} and table["alice"][5] == "4" and table["bob"][5] == "2"
    detail = course("gradebook", "--gradebook", str(gb), "--format", "canvas", "--detail")
    rows = list(csv.reader(detail.stdout.splitlines()))
    assert rows[0][5:] == ["Toy lab (90_toy)", "90_toy q1", "90_toy q2", "90_toy q3"]
    assert {r[0]: r[5:] for r in rows[2:]}["bob"] == ["2", "2", "0", "0"]


def test_folder_grading_shows_progress_with_an_eta(tmp_path: Path) -> None:
    import pty
    subs = tmp_path / "subs"
    for i in range(3):
        toy.write_lab(subs / f"s{i}" / "90_toy_lab.ipynb", toy.SOLUTION)
    import fcntl
    import struct
    import termios
    master, slave = pty.openpty()           # a terminal on stderr: the bar is drawn
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    p = subprocess.run(toy.course_cmd() + ["grade", str(subs), "--no-record", "--jobs", "2"],
                       stdout=subprocess.PIPE, stderr=slave, text=True, timeout=300)
    os.close(slave)
    drawn = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(master)
    assert p.returncode == 0
    assert b"grading" in drawn and b"3/3" in drawn and b"<" in drawn    # tqdm: n/total [elapsed<remaining]
    assert p.stdout.count("4/4") == 3
