"""Hostile submissions (``tests/hostile/*.py``): each is contained, scores no more than an honest
blank, and leaves the grader healthy -- an honest submission graded right after gets full marks."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

import grader_toylab as toy
from course_utils.grader.grade import grade_notebook
from course_utils.grader import sandbox
from course_utils.grader.sandbox import SandboxLimits, isolation_mode
from course_utils.notebooks import COURSE_ROOT

HOSTILE = sorted((Path(__file__).parent / "hostile").glob("*.py"))
FAST = SandboxLimits(load_timeout_s=4.0, start_timeout_s=30.0)
NAMESPACES = isolation_mode() != "plain"


@pytest.fixture(autouse=True)
def _toylab(monkeypatch):
    toy.use_toylab(monkeypatch)


class _Listener:
    """A TCP server on the grader's side that records any connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.hits += 1
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self.stop = True
        self.thread.join()
        self.sock.close()


def _sandbox_processes(uids: set[int]) -> list[int]:
    """Processes still running (zombies aside) under one of ``uids``."""
    left = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/status") as f:
                    status = f.read().splitlines()
                uid = next(int(line.split()[1]) for line in status if line.startswith("Uid:"))
                if any(line.startswith("State:") and "Z" in line.split()[1] for line in status):
                    continue
            except (OSError, StopIteration):
                continue
            if uid in uids:
                left.append(int(pid))
    return left


@pytest.mark.parametrize("snippet", HOSTILE, ids=lambda p: p.stem)
def test_hostile_submission_is_contained(snippet: Path, tmp_path: Path, monkeypatch) -> None:
    if not NAMESPACES and os.geteuid() != 0 and snippet.stem in ("kill_parent", "fork_bomb"):
        pytest.skip("without namespaces or root the sandbox shares your uid: this attack would hit your "
                    "own processes (see course_utils/grader/sandbox.py)")
    marker = tmp_path / "outside" / "PWNED"
    marker.parent.mkdir()
    sub_dir = tmp_path / "submission"
    secret = sub_dir / "secret.txt"
    sub_dir.mkdir()
    secret.write_text("TOP-SECRET")
    listener = _Listener()
    code = (snippet.read_text().replace("__MARKER__", str(marker)).replace("__PORT__", str(listener.port))
            .replace("__ROOT__", str(COURSE_ROOT)).replace("__SECRET__", str(secret)))
    nb = toy.write_lab(sub_dir / "90_toy_lab.ipynb", toy.BLANK + [code])
    uids: set[int] = set()
    real_fresh_uid = sandbox.fresh_uid

    def recording_fresh_uid() -> int:
        uid = real_fresh_uid()
        uids.add(uid)
        return uid
    monkeypatch.setattr(sandbox, "fresh_uid", recording_fresh_uid)
    parent_pid = os.getpid()
    started = time.monotonic()
    try:
        result = grade_notebook(nb, seed=1234, limits=FAST)
    finally:
        listener.close()
    elapsed = time.monotonic() - started

    assert os.getpid() == parent_pid                       # the grader survived
    assert result.total == 0, [(q.id, q.status, q.message) for q in result.questions]
    assert [q.id for q in result.questions] == ["q1", "q2", "q3"]   # every question was graded
    assert elapsed < 40, f"grading took {elapsed:.1f} s"
    if NAMESPACES:
        assert listener.hits == 0, "student code reached the grader's network"
        assert uids and not _sandbox_processes(uids), "sandbox processes outlived the grading"
    assert not marker.exists(), "student code wrote outside its working folder"
    assert not (COURSE_ROOT / "PWNED_BY_STUDENT").exists()
    assert not Path("/etc/PWNED_BY_STUDENT").exists()

    statuses = {q.id: q.status for q in result.questions}
    if snippet.stem in ("infinite_loop", "fork_bomb", "huge_prints"):
        assert statuses["q1"] == "timeout"
        assert "time limit" in result.questions[0].message
    if snippet.stem == "infinite_loop":
        assert any("Spin" in n and "skipped" in n for n in result.notes), result.notes
    if snippet.stem == "sys_exit":
        assert statuses["q2"] == "crashed" and "exited" in result.questions[1].message
        assert any("Bye" in n for n in result.notes), result.notes
        assert "SystemExit" in result.questions[0].message
    if snippet.stem == "memory_bomb":
        assert "MemoryError" in result.questions[0].message or statuses["q1"] in ("crashed", "timeout")
        assert "MemoryError" in result.questions[1].message   # one huge allocation fails at once
    if snippet.stem == "syntax_error":
        assert any("syntax error" in n for n in result.notes), result.notes
        assert statuses["q1"] == "not_implemented"
    if snippet.stem == "always_equal":
        assert "not plain data" in result.questions[1].message
    if snippet.stem == "nan_inf":
        assert "NaN or inf" in result.questions[0].message

    # ... and the grader is still healthy: an honest submission right after gets full marks
    honest = toy.write_lab(tmp_path / "honest" / "90_toy_lab.ipynb", toy.SOLUTION)
    after = grade_notebook(honest, limits=FAST)
    assert after.total == after.max == 4, [(q.id, q.status, q.message) for q in after.questions]


def test_suite_covers_the_required_attacks() -> None:
    names = {p.stem for p in HOSTILE}
    assert {"infinite_loop", "memory_bomb", "fork_bomb", "sys_exit", "kill_parent", "huge_prints",
            "write_outside", "read_grader_files", "network", "monkeypatch_numpy", "always_equal",
            "nan_inf", "syntax_error"} <= names


@pytest.mark.skipif(not NAMESPACES, reason="needs namespaces (unshare) on this machine")
def test_sandbox_is_isolated_as_documented(tmp_path: Path) -> None:
    """What student code sees: no network, a fresh /tmp, hidden course folder, own uid, rlimits."""
    probe = """
import os, resource, socket
def add_one(x):
    facts = []
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=0.5); facts.append("net")
    except OSError:
        pass
    if os.path.exists("__ROOT__/course_utils"): facts.append("course_utils visible")
    if os.path.exists("__ROOT__/solutions"): facts.append("solutions visible")
    if os.getuid() == 0 and "__MODE__" == "root-ns": facts.append("root")
    if resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY: facts.append("no AS limit")
    if resource.getrlimit(resource.RLIMIT_CPU)[0] == resource.RLIM_INFINITY: facts.append("no CPU limit")
    if resource.getrlimit(resource.RLIMIT_FSIZE)[0] == resource.RLIM_INFINITY: facts.append("no FSIZE limit")
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] > 1024: facts.append("no NOFILE limit")
    if "COURSE_GRADER_LABS" in os.environ: facts.append("environment not scrubbed")
    if len([p for p in os.listdir("/proc") if p.isdigit()]) > 5: facts.append("host processes visible")
    return x + 1.0 if not facts else x
""".replace("__ROOT__", str(COURSE_ROOT)).replace("__MODE__", isolation_mode())
    nb = toy.write_lab(tmp_path / "90_toy_lab.ipynb", toy.SOLUTION + [probe])
    result = grade_notebook(nb, limits=FAST)
    assert result.questions[0].status == "passed", result.questions[0].message
