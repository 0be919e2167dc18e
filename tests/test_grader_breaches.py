"""The breaches of issue 10, one test per class, with attack notebooks crafted here.

Each attack is written against the grader's code: it forges answer frames on the sandbox's answer
pipe (``sys.argv[2]`` of ``sandbox_main.py``), lifts limits inside the sandbox, stalls loading or
extraction, leaves files for the next grading, reads other folders, smuggles escapes into reports,
or abuses file names and student ids. Every test requires a contained outcome: the batch goes on,
time stays bounded, nothing crosses between gradings, the report stays inert.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

import grader_toylab as toy
from course_utils.grader import wire
from course_utils.grader.extract import MAX_UNITS
from course_utils.grader.grade import SubmissionError, grade_notebook
from course_utils.grader.gradebook import Gradebook
from course_utils.grader.report import to_html, to_markdown, to_text
from course_utils.grader.safety import WITHHELD, check_student_id, clean_text, md_escape
from course_utils.grader.sandbox import Sandbox, SandboxLimits, describe_isolation, isolation_mode
from course_utils.grader.extract import extract_from_sources
from course_utils.grader.spec import Case
from course_utils.notebooks import COURSE_ROOT

FAST = SandboxLimits(load_timeout_s=4.0, start_timeout_s=30.0)
ALLOW_LIST = isolation_mode() != "plain"


@pytest.fixture(autouse=True)
def _toylab(monkeypatch):
    toy.use_toylab(monkeypatch)


def course(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(toy.course_cmd() + list(args), capture_output=True, text=True, timeout=timeout, **kw)


def _statuses(r) -> dict[str, str]:
    return {q.id: q.status for q in r.questions}


# A student function that writes a forged answer frame (header JSON + archive bytes) on the pipe
# the grader reads, then waits: the grader must judge the forgery, not the honest answer after it.
FORGE = '''
import os, struct, sys, time

def _forge(header, archive=b""):
    fd = int(sys.argv[2])
    body = struct.pack(">I", len(header)) + header + archive
    os.write(fd, struct.pack(">Q", len(body)) + body)
    time.sleep(60)
'''


def _zip_bomb_source(entries: int) -> str:
    """Student code building an .npz whose central directory has ``entries`` entries."""
    return FORGE + f'''
def add_one(x):
    name = b"a0.npy"
    entry = (b"PK\\x01\\x02" + struct.pack("<HHHHHHIIIHHHHHII", 20, 20, 0, 0, 0, 0, 0, 0, 0,
             len(name), 0, 0, 0, 0, 0, 0) + name)
    cd = entry * {entries}
    end = b"PK\\x05\\x06" + struct.pack("<HHHHIIH", 0, 0, 0xFFFF, 0xFFFF, len(cd), 0, 0)
    header = b'{{"event": "result", "index": 0, "ok": true, "value": {{"$nd": "a0"}}}}'
    _forge(header, cd + end)
'''


# ------------------------------------------------------------------ 1. nothing stops the batch
def test_huge_int_deep_frame_and_zip_bomb_become_verdicts(tmp_path: Path) -> None:
    huge = toy.SOLUTION + ["def add_one(x):\n    import sys\n    sys.set_int_max_str_digits(0)\n"
                           "    return 10 ** 200_000"]
    deep = toy.SOLUTION + [FORGE + "\ndef norm(x):\n    _forge(b'[' * 100_000 + b']' * 100_000)"]
    bomb = toy.SOLUTION + [_zip_bomb_source(400_000)]
    for cells, qid in ((huge, "q1"), (deep, "q2"), (bomb, "q1")):
        t0 = time.monotonic()
        r = grade_notebook(toy.write_lab(tmp_path / qid / str(len(cells)) / "90_toy_lab.ipynb", cells),
                           limits=FAST)
        elapsed = time.monotonic() - t0
        q = next(q for q in r.questions if q.id == qid)
        assert q.score == 0 and q.status in ("failed", "crashed"), (q.status, q.message)
        assert "not plain data" in q.message or "could not be compared" in q.message, q.message
        others = [x for x in r.questions if x.id != qid]
        assert all(x.status == "passed" for x in others), [(x.id, x.message) for x in others]
        assert elapsed < 30, f"{qid}: {elapsed:.1f} s"


def test_wire_decoder_bounds_everything_before_parsing() -> None:
    def frame(header: bytes, archive: bytes = b"") -> bytes:
        return struct.pack(">I", len(header)) + header + archive
    cases = [frame(b"[" * 100_000 + b"]" * 100_000), frame(b"1" + b"0" * 10_000),
             frame(b'{"$nd": "a0"}', b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 65535, 65535, 50_000_000, 0, 0)),
             frame(b"\xff\xfe"), frame(b"[" * 40 + b"]" * 40)]
    for body in cases:
        t0 = time.perf_counter()
        with pytest.raises(wire.WireError):
            wire.decode(body)
        assert time.perf_counter() - t0 < 1.0
    import io
    import zipfile

    import numpy as np
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:   # a compressed member
        with z.open("a0.npy", "w") as f:
            np.save(f, np.zeros(10))
    with pytest.raises(wire.WireError, match="compressed"):
        wire.decode(frame(b'{"$nd": "a0"}', buf.getvalue()))


@pytest.mark.slow
def test_a_folder_batch_survives_every_attack_and_records_the_rest(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    toy.write_lab(subs / "honest" / "90_toy_lab.ipynb", toy.SOLUTION)
    toy.write_lab(subs / "hugeint" / "90_toy_lab.ipynb", toy.SOLUTION + [
        "def norm(x):\n    import sys\n    sys.set_int_max_str_digits(0)\n    return 7 ** 300_000"])
    toy.write_lab(subs / "deep" / "90_toy_lab.ipynb",
                  toy.SOLUTION + [FORGE + "\ndef norm(x):\n    _forge(b'[' * 100_000 + b']' * 100_000)"])
    (subs / "linked").mkdir()
    (subs / "linked" / "90_toy_lab.ipynb").symlink_to(subs / "honest" / "90_toy_lab.ipynb")
    (subs / "device").mkdir()
    (subs / "device" / "90_toy_lab.ipynb").symlink_to("/dev/zero")
    gb = tmp_path / "gb.sqlite"
    p = course("grade", str(subs), "--json", "--jobs", "2", "--gradebook", str(gb), "--no-progress")
    assert p.returncode == 2, p.stderr            # some files refused; nothing crashed (never 3, never a traceback)
    assert "Traceback" not in p.stderr
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    graded = {r["student"]: r for r in lines if "total" in r}
    assert set(graded) == {"honest", "hugeint", "deep"}
    assert graded["honest"]["total"] == 4 and graded["hugeint"]["total"] == 3 and graded["deep"]["total"] == 3
    refused = [r for r in lines if "error" in r]
    assert len(refused) == 2 and all("symbolic link" in r["error"] for r in refused)   # linked, device
    assert sorted(r["student"] for r in Gradebook(gb).rows()) == ["deep", "honest", "hugeint"]


# ------------------------------------------------------------------ 2. bounded time
def test_many_sleeping_statements_share_one_loading_deadline(tmp_path: Path) -> None:
    sleepers = "\n\n".join(f"class Sleep{i}:\n    import time\n    time.sleep(1000)" for i in range(30))
    nb = toy.write_lab(tmp_path / "90_toy_lab.ipynb", toy.SOLUTION[:2] + [sleepers] + toy.SOLUTION[2:])
    t0 = time.monotonic()
    r = grade_notebook(nb, limits=FAST)
    elapsed = time.monotonic() - t0
    assert elapsed < 25, f"{elapsed:.1f} s for 30 sleeping statements (one deadline each would be 120 s)"
    assert _statuses(r)["q1"] == "passed"                   # definitions before the sleepers were loaded
    assert any("Sleep0" in n and "skipped" in n for n in r.notes), r.notes
    assert any("were not run" in n for n in r.notes), r.notes


def test_one_budget_bounds_the_whole_submission(tmp_path: Path) -> None:
    cells = [toy.IMPORTS, "class Slow:\n    import time\n    time.sleep(3.5)",
             "def add_one(x):\n    while True:\n        pass", "def norm(x):\n    import time\n    time.sleep(100)",
             "def sgd_step(w, g, lr):\n    while True:\n        pass"]
    nb = toy.write_lab(tmp_path / "90_toy_lab.ipynb", cells)
    t0 = time.monotonic()
    r = grade_notebook(nb, limits=FAST, budget_s=6.0)
    elapsed = time.monotonic() - t0
    assert elapsed < 6.0 + 4.0, f"{elapsed:.1f} s with a 6 s budget"
    assert r.total == 0 and all(s == "timeout" for s in _statuses(r).values()), _statuses(r)
    assert any("whole submission" in q.message for q in r.questions), [q.message for q in r.questions]


def test_pathological_ipython_cell_is_read_in_bounded_time(tmp_path: Path) -> None:
    cell = "x?\n" * 71_000                                    # 213 kB
    assert len(cell.encode()) >= 213_000
    nb = toy.write_lab(tmp_path / "90_toy_lab.ipynb", toy.SOLUTION + [cell])
    t0 = time.monotonic()
    r = grade_notebook(nb, limits=FAST)
    elapsed = time.monotonic() - t0
    assert elapsed < 20, f"{elapsed:.1f} s"
    assert r.total == 4
    assert any("took longer" in n and "skipped" in n for n in r.notes), r.notes


@pytest.mark.slow
def test_statement_count_over_the_limit_is_the_students_error(tmp_path: Path) -> None:
    many = "\n".join(f"C{i} = {i}" for i in range(14_400))
    nb = toy.write_lab(tmp_path / "90_toy_lab.ipynb", toy.SOLUTION + [many])
    with pytest.raises(SubmissionError, match="submission too large"):
        grade_notebook(nb, limits=FAST)
    gb = tmp_path / "gb.sqlite"
    p = course("grade", str(nb), "--student", "many", "--gradebook", str(gb))
    assert p.returncode == 2 and "submission too large" in p.stderr, (p.returncode, p.stderr[-500:])
    assert Gradebook(gb).rows() == []
    # just under the limit: loaded in batches, graded normally
    ok = "\n".join(f"C{i} = {i}" for i in range(MAX_UNITS - 10))
    r = grade_notebook(toy.write_lab(tmp_path / "ok" / "90_toy_lab.ipynb", toy.SOLUTION + [ok]), limits=FAST)
    assert r.total == 4, [(q.id, q.message) for q in r.questions]


def test_a_19_mb_notebook_costs_the_grader_little(tmp_path: Path) -> None:
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.metadata["course"] = {"lab": "90_toy"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in toy.SOLUTION]
    blob = "A" * 1_000_000
    for _ in range(19):
        cell = nbformat.v4.new_code_cell("pass")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": blob})]
        nb.cells.append(cell)
    path = tmp_path / "90_toy_lab.ipynb"
    nbformat.write(nb, str(path))
    assert path.stat().st_size > 19_000_000
    t0 = time.monotonic()
    r = grade_notebook(path, limits=FAST)
    assert r.total == 4 and time.monotonic() - t0 < 30


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_killing_the_grader_kills_its_sandboxes(tmp_path: Path, jobs: str) -> None:
    cells = toy.SOLUTION + ["def add_one(x):\n    import os, time\n    if os.fork() == 0:\n        try:\n"
                            "            os.setsid()      # refused (seccomp); the child stays anyway\n"
                            "        except OSError:\n            pass\n"
                            "    while True:\n        time.sleep(1)"]
    for i in range(int(jobs)):
        toy.write_lab(tmp_path / "subs" / f"s{i}" / "90_toy_lab.ipynb", cells)
    proc = subprocess.Popen(toy.course_cmd() + ["grade", str(tmp_path / "subs"), "--jobs", jobs, "--no-record",
                                                "--budget", "120", "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        seen: set[int] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen |= _descendants(proc.pid)
            pythons = [p for p in seen if _alive(p) and b"sandbox_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
            if len(pythons) >= 2 * int(jobs):      # the student's process and its forked child, per job
                break
            time.sleep(0.2)
        else:
            pytest.fail("the sandboxes did not start")
        time.sleep(0.5)
        seen |= _descendants(proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in seen):
        time.sleep(0.1)
    assert not [p for p in seen if _alive(p)], "sandbox processes outlived the grader"


# ------------------------------------------------------------------ 3. nothing carried between gradings
WRITER = '''
def add_one(x):
    import os
    for d in ("/var/tmp", "/run/lock", "/run", "/tmp", "/dev/shm"):
        try:
            with open(os.path.join(d, "course_channel.py"), "w") as f:
                f.write("ANSWER = 1.0\\n")
        except OSError:
            pass
    try:
        with open("/var/tmp/course_big", "wb") as f:
            f.write(b"0" * (64 * 1024 * 1024))
    except OSError:
        pass
    return x + 1.0
'''
READER = '''
def add_one(x):
    import os
    for d in ("/var/tmp", "/run/lock", "/run", "/tmp", "/dev/shm"):
        if os.path.exists(os.path.join(d, "course_channel.py")):
            return x + 1.0
    return x
'''


def test_nothing_written_in_one_grading_exists_at_the_next(tmp_path: Path) -> None:
    before = {d: set(os.listdir(d)) for d in ("/var/tmp", "/tmp") if os.path.isdir(d)}
    a = grade_notebook(toy.write_lab(tmp_path / "a" / "90_toy_lab.ipynb", toy.SOLUTION + [WRITER]), limits=FAST)
    assert _statuses(a)["q1"] == "passed"
    b = grade_notebook(toy.write_lab(tmp_path / "b" / "90_toy_lab.ipynb", toy.SOLUTION + [READER]), limits=FAST)
    assert _statuses(b)["q1"] != "passed", "student B read what student A's grading left behind"
    for d in ("/var/tmp", "/run/lock", "/run", "/dev/shm"):
        assert not os.path.exists(os.path.join(d, "course_channel.py")), f"the sandbox wrote to the host's {d}"
    assert not os.path.exists("/var/tmp/course_big")
    for d, names in before.items():
        assert not {n for n in set(os.listdir(d)) - names if n.startswith("course_")}


# ------------------------------------------------------------------ 4. symlinks and special files
@pytest.mark.slow
def test_symlinked_and_special_submissions_are_refused(tmp_path: Path) -> None:
    sol = toy.write_lab(tmp_path / "solution" / "90_toy_lab.ipynb", toy.SOLUTION)
    link = tmp_path / "link" / "90_toy_lab.ipynb"
    link.parent.mkdir()
    link.symlink_to(sol)
    with pytest.raises(SubmissionError, match="symbolic link"):
        grade_notebook(link, limits=FAST)
    fifo = tmp_path / "fifo.ipynb"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    with pytest.raises(SubmissionError, match="not a regular file"):
        grade_notebook(fifo, limits=FAST)
    assert time.monotonic() - t0 < 5
    subs = tmp_path / "subs"
    (subs / "mallory").mkdir(parents=True)
    (subs / "mallory" / "90_toy_lab.ipynb").symlink_to(sol)
    (subs / "eve").symlink_to(sol.parent, target_is_directory=True)
    toy.write_lab(subs / "bob" / "90_toy_lab.ipynb", toy.BLANK)
    gb = tmp_path / "gb.sqlite"
    p = course("grade", str(subs), "--gradebook", str(gb), "--json", "--no-progress")
    assert p.returncode == 2
    assert p.stderr.count("symbolic link") == 2, p.stderr
    assert [r["student"] for r in Gradebook(gb).rows()] == ["bob"]
    p = course("grade", str(link), "--student", "mallory", "--gradebook", str(gb))
    assert p.returncode == 2 and "symbolic link" in p.stderr
    assert [r["student"] for r in Gradebook(gb).rows()] == ["bob"]


# ------------------------------------------------------------------ 5. allow-list filesystem
PROBE = '''
import os
def look(paths):
    seen = []
    for p in paths:
        try:
            os.stat(p)
            seen.append(p)
        except OSError:
            pass
    return seen

def writable(paths):
    ok = []
    for p in paths:
        try:
            with open(os.path.join(p, ".course_probe"), "w") as f:
                f.write("x")
            ok.append(p)
        except OSError:
            pass
    return ok
'''


def _modes() -> list[str]:
    if not ALLOW_LIST:
        return []
    out = [isolation_mode()]
    if os.geteuid() == 0 and "root-ns" not in out:
        out.append("root-ns")
    return out


@pytest.mark.skipif(not ALLOW_LIST, reason="plain mode hides nothing (documented)")
@pytest.mark.parametrize("mode", _modes())
def test_student_code_sees_only_the_allow_list(tmp_path: Path, monkeypatch, mode: str) -> None:
    monkeypatch.setenv("COURSE_SANDBOX_MODE", mode)
    isolation_mode.cache_clear()
    try:
        sibling = toy.write_lab(tmp_path / "subs" / "alice" / "90_toy_lab.ipynb", toy.SOLUTION)
        other = tmp_path / "other_checkout" / "solutions" / "90_toy_lab.ipynb"
        other.parent.mkdir(parents=True)
        other.write_text("solution")
        home = Path(os.path.expanduser("~"))
        home_files = [str(p) for p in home.iterdir() if p.name not in (".pyenv", ".local")][:20]
        secret_paths = [str(sibling), str(other), str(tmp_path), str(COURSE_ROOT / "solutions"),
                        str(COURSE_ROOT / "course_utils"), str(COURSE_ROOT / "tests"), str(COURSE_ROOT / ".git"),
                        "/srv", "/home", "/work/notes", "/etc/passwd", "/etc/shadow", "/opt", "/mnt",
                        "/var/lib", "/usr/local/bin", *home_files]
        prog = extract_from_sources([PROBE])
        with Sandbox(prog, limits=FAST) as box:
            seen, writable = box.run_cases([Case("look", {"paths": secret_paths}),
                                            Case("writable", {"paths": ["/tmp", "/var/tmp", "/dev/shm", "/run",
                                                                        "/", "/usr", sys.prefix, "/etc"]})], 20)
            assert box.mode == mode
        assert seen.ok and seen.value == [], seen.value or seen.error
        assert writable.ok and sorted(writable.value) == ["/dev/shm", "/tmp", "/var/tmp"], writable.value
        # ... and by the grading path: a blank lab that reads a sibling's notebook scores nothing
        steal = ("def add_one(x):\n    import os\n    p = %r\n    return x + 1.0 if os.path.exists(p) else x"
                 % str(sibling))
        r = grade_notebook(toy.write_lab(tmp_path / "subs" / "bob" / "90_toy_lab.ipynb", toy.BLANK + [steal]),
                           limits=FAST)
        assert r.total == 0 and r.isolation == describe_isolation(mode)
    finally:
        isolation_mode.cache_clear()



@pytest.mark.skipif(not ALLOW_LIST, reason="plain mode hides nothing (documented)")
@pytest.mark.parametrize("mode", _modes())
def test_a_virtualenv_under_tmp_stays_visible(tmp_path: Path, monkeypatch, mode: str) -> None:
    """A course checked out under /tmp has its virtualenv there: the sandbox's private /tmp must not hide it
    (the Python binds are mounted on top of the writable tmpfs, not under it)."""
    import course_utils.grader.sandbox as sandbox_module
    venv_like = tmp_path / "checkout" / ".venv"
    (venv_like / "lib").mkdir(parents=True)
    (venv_like / "lib" / "marker.py").write_text("x = 1\n")
    real = sandbox_module._keep_paths()
    monkeypatch.setattr(sandbox_module, "_keep_paths", lambda: [*real, str(venv_like)])
    monkeypatch.setenv("COURSE_SANDBOX_MODE", mode)
    isolation_mode.cache_clear()
    try:
        with Sandbox(extract_from_sources([PROBE]), limits=FAST) as box:
            seen, writable = box.run_cases([Case("look", {"paths": [str(venv_like / "lib" / "marker.py"),
                                                                    str(tmp_path / "checkout" / "solutions")]}),
                                            Case("writable", {"paths": ["/tmp", "/dev/shm", str(venv_like)]})], 20)
        assert seen.ok and seen.value == [str(venv_like / "lib" / "marker.py")], seen.value or seen.error
        assert writable.ok and sorted(writable.value) == ["/dev/shm", "/tmp"], writable.value
    finally:
        isolation_mode.cache_clear()


# ------------------------------------------------------------------ 6. inert reports, safe ids
EVIL = '''
def add_one(x):
    name = "\\x1b[2J\\x1b[31mEvil](http://evil.example)<img src=x onerror=alert(1)>" + str(float(x.sum()))
    raise type(name, (Exception,), {})("\\x1b]0;title\\x07boom [click](http://evil.example) ![i](http://e/x.png) "
                                       "<b>bold</b>\\nq1 add_one 2/2 passed")

def norm(x):
    raise type("Leak" + str(float(x[0])), (Exception,), {})("short")
'''


def test_reports_are_inert(tmp_path: Path) -> None:
    r = grade_notebook(toy.write_lab(tmp_path / "90_toy_lab.ipynb", toy.BLANK + [EVIL]), limits=FAST, seed=5)
    q1, q2 = r.questions[0], r.questions[1]
    for q in (q1, q2):
        assert not any(ord(ch) < 32 or 0x7f <= ord(ch) < 0xa0 for ch in q.message), repr(q.message)
    assert WITHHELD in q2.message and "Leak" not in q2.message          # hidden value in a type name
    assert WITHHELD in q1.message
    md, page, text = to_markdown(r), to_html(r), to_text(r)
    assert "\x1b" not in md + page + text
    assert "](http" not in md and "<img" not in md and "<b>" not in md and "<img" not in page
    assert len(text.splitlines()) == 1 + len(r.questions) + len(r.notes)
    # the renderers escape whatever they are given, not only what the grader cleaned
    r.questions[0].message = "x](http://evil) <img src=x> \x1b[31m red \n fake line | cell"
    md, page, text = to_markdown(r), to_html(r), to_text(r)
    assert "](http" not in md and "<img" not in md and "\\|" in md and "\x1b" not in md + page + text
    assert "<img" not in page and "\n fake" not in text
    assert "\x1b" not in clean_text("\x1b[1mbold") and "\u202e" not in clean_text("a\u202eb")
    assert md_escape("[a](b)") == "\\[a\\]\\(b\\)"


@pytest.mark.slow
def test_unsafe_student_ids_are_refused_before_they_name_files(tmp_path: Path) -> None:
    for sid in ["../../x", "/etc/cron.d/x", "..", ".", "a/b", "x\x1b[2J", "", "-rf", "a" * 101, "é"]:
        with pytest.raises(ValueError, match="not allowed"):
            check_student_id(sid)
    for sid in ["alice", "s1234567", "alice.smith@uni.example", "o'neil".replace("'", "_")]:
        assert check_student_id(sid) == sid
    nb = toy.write_lab(tmp_path / "w" / "90_toy_lab.ipynb", toy.SOLUTION)
    reports = tmp_path / "a" / "b" / "reports"
    gb = tmp_path / "gb.sqlite"
    for sid in ("../../x", ""):
        p = course("grade", str(nb), f"--student={sid}", "--report-dir", str(reports), "--gradebook", str(gb))
        assert p.returncode == 2 and "not allowed" in p.stderr, p.stderr[-300:]
    subs = tmp_path / "subs"
    toy.write_lab(subs / "bad name;x" / "90_toy_lab.ipynb", toy.SOLUTION)
    toy.write_lab(subs / "ok" / "90_toy_lab.ipynb", toy.SOLUTION)
    p = course("grade", str(subs), "--report-dir", str(reports), "--gradebook", str(gb), "--jobs", "1")
    assert p.returncode == 2 and "not allowed" in p.stderr
    assert sorted(x.name for x in tmp_path.rglob("*.md")) == ["ok_90_toy.md"]
    assert all(x.parent == reports for x in tmp_path.rglob("*.html"))
    assert [r["student"] for r in Gradebook(gb).rows()] == ["ok"]


# ------------------------------------------------------------------ second red-team round
# Each class below was found by attacking the grader after the first round was fixed.

def test_long_double_answers_are_judged_as_float64(tmp_path: Path) -> None:
    """1e4000 as a long double is finite, but inf in float64: its error was NaN, and NaN > tol is False."""
    import numpy as np

    from course_utils.grader.spec import compare_close, rel_error
    big = np.full((2, 3), np.longdouble("1e4000"))
    assert not compare_close(big, np.ones((2, 3)))[0]
    assert not compare_close(np.full(3, np.nan), np.ones(3), tol=1.0)[0]
    assert rel_error(np.array([np.inf]), np.array([np.inf])) == float("inf")
    with pytest.raises(wire.WireError, match="dtype"):                    # the strict side refuses it ...
        _decode_raw_array(big)
    cells = toy.SOLUTION + ["def add_one(x):\n    import numpy as np\n"
                            "    return np.full(x.shape, np.longdouble('1e4000'))"]
    r = grade_notebook(toy.write_lab(tmp_path / "90_toy_lab.ipynb", cells), limits=FAST)
    assert _statuses(r)["q1"] == "failed" and r.questions[0].score == 0, r.questions[0].message


def _decode_raw_array(arr) -> object:
    """Build a frame holding ``arr`` as the sandbox would without its lenient conversion, then decode it."""
    import io

    import numpy as np
    buf = io.BytesIO()
    np.savez(buf, a0=arr)
    header = b'{"$nd": "a0"}'
    return wire.decode(struct.pack(">I", len(header)) + header + buf.getvalue())


FORGED_LOADED = '''
class Forge:
    import json as _j, io as _io, os as _o, struct as _st, sys as _s, time as _t
    import numpy as _np
    _buf = _io.BytesIO()
    _np.savez(_buf)
    _h = _j.dumps({"$dict": {"event": "loaded", "errors": []}}).encode()
    _body = _st.pack(">I", len(_h)) + _h + _buf.getvalue()
    _o.write(int(_s.argv[2]), _st.pack(">Q", len(_body)) + _body)
    _t.sleep(10 ** 6)
'''


def test_a_forged_loaded_event_and_a_sandbox_that_stops_reading_cost_one_budget(tmp_path: Path) -> None:
    """A statement forges "loaded" and sleeps; the next load request (megabytes, beyond the pipe's buffer)
    is never read. The grader's write used to block forever; it now has the same deadline as everything."""
    filler = "\n".join(f"c{i} = {i}" for i in range(250)) + "\nBIG = '" + "x" * 2_000_000 + "'"
    cells = toy.SOLUTION[:1] + [FORGED_LOADED, filler] + toy.SOLUTION[1:]
    nb = toy.write_lab(tmp_path / "90_toy_lab.ipynb", cells)
    t0 = time.monotonic()
    r = grade_notebook(nb, limits=FAST, budget_s=40.0)       # no SandboxError (exit 3): the student's doing
    elapsed = time.monotonic() - t0
    assert elapsed < 40.0 + 10.0, f"{elapsed:.1f} s"
    assert any("Forge" in n for n in r.notes), r.notes


def test_answers_too_large_for_the_graders_memory_fail_the_question(tmp_path: Path) -> None:
    from course_utils.grader.sandbox import MAX_ANSWER_BYTES
    per_case = MAX_ANSWER_BYTES // 3 + 2_000_000              # each under a frame's limit; the three over the cap
    cells = toy.SOLUTION + [f"def add_one(x):\n    import numpy as np\n    return np.zeros({per_case // 8})"]
    r = grade_notebook(toy.write_lab(tmp_path / "90_toy_lab.ipynb", cells), limits=FAST)
    q1 = r.questions[0]
    assert q1.score == 0 and "add up to more than" in q1.message, q1.message
    assert _statuses(r)["q2"] == "passed"


def test_statements_sharing_a_line_are_extracted_exactly() -> None:
    line = "import os;" * 1000 + " #" + "x" * 200_000
    prog = extract_from_sources([line, "x = 1; y = undefined_name()"])
    assert sum(len(u.source) for u in prog.units) < 20_000       # not 1000 copies of the 200 kB line
    assert [u.source for u in prog.units if u.names == ("x",)] == ["x = 1"]   # not its neighbour's call


# Start the grader in a session keyring holding a secret, as after an SSH login with pam_keyinit
# (x86_64 syscall numbers: add_key 248, keyctl 250; exit 77 when the kernel or a seccomp filter refuses).
KEYRING_LAUNCHER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
if libc.syscall(250, 1, b"grader-test") < 0:                                  # KEYCTL_JOIN_SESSION_KEYRING
    sys.exit(77)
if libc.syscall(248, b"user", b"grader_secret", b"hunter2", 7, ctypes.c_long(-3)) < 0:   # add_key to @s
    sys.exit(77)
os.execv(sys.argv[1], sys.argv[1:])
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the attack uses x86_64 syscall numbers")
def test_the_graders_session_keyring_is_out_of_reach(tmp_path: Path) -> None:
    steal = '''
def add_one(x):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    kid = libc.syscall(250, 10, ctypes.c_long(-3), b"user", b"grader_secret", 0)    # KEYCTL_SEARCH @s
    buf = ctypes.create_string_buffer(100)
    n = libc.syscall(250, 11, ctypes.c_long(kid), buf, 100)                         # KEYCTL_READ
    secret = buf.raw[:max(n, 0)].decode(errors="replace")
    return x + 1.0 if secret == "hunter2" else x
'''
    nb = toy.write_lab(tmp_path / "90_toy_lab.ipynb", toy.SOLUTION + [steal])
    p = subprocess.run([sys.executable, "-c", KEYRING_LAUNCHER, *toy.course_cmd(), "grade", str(nb), "--no-record",
                        "--json", "--student", "kr"], capture_output=True, text=True, timeout=300)
    if p.returncode == 77:
        pytest.skip("this kernel (or its seccomp filter) gives no session keyring to attack")
    result = json.loads(p.stdout.splitlines()[-1])
    q1 = next(q for q in result["questions"] if q["id"] == "q1")
    assert q1["score"] == 0, q1


@pytest.mark.slow
def test_odd_file_names_and_deep_folders_do_not_stop_the_batch(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    toy.write_lab(subs / "alice" / "90_toy_lab.ipynb", toy.SOLUTION)
    toy.write_lab(subs / "carol" / "90_toy_lab.ipynb", toy.SOLUTION)
    bob = os.fsencode(subs / "bob")
    os.makedirs(bob)
    with open(bob + b"/x\xff_lab.ipynb", "wb") as f:                       # not UTF-8
        f.write((subs / "alice" / "90_toy_lab.ipynb").read_bytes())
    deep = subs / "mallory"
    deep.mkdir()
    try:
        _batch_with_odd_names(subs, deep, tmp_path)
    finally:
        _remove_deep(deep, 1100)


def _batch_with_odd_names(subs: Path, deep: Path, tmp_path: Path) -> None:
    fd = os.open(deep, os.O_RDONLY)                                     # os.walk recursed into this
    for _ in range(1100):                                                # (so does os.makedirs)
        os.mkdir("d", dir_fd=fd)
        fd, old = os.open("d", os.O_RDONLY, dir_fd=fd), fd
        os.close(old)
    os.close(fd)
    esc = subs / "\x1b[2J\x1b[1;32mgraded\r"
    esc.mkdir()
    (esc / "90_toy_lab.ipynb").symlink_to(subs / "alice" / "90_toy_lab.ipynb")
    newline = subs / "alice\n"
    toy.write_lab(newline / "90_toy_lab.ipynb", toy.SOLUTION)
    gb = tmp_path / "gb.sqlite"
    p = course("grade", str(subs), "--json", "--jobs", "2", "--gradebook", str(gb), "--no-progress")
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert "\x1b" not in p.stdout + p.stderr and "\r" not in p.stdout + p.stderr
    assert sorted(r["student"] for r in Gradebook(gb).rows()) == ["alice", "carol"]
    assert "not valid UTF-8" in p.stderr and "folders deep" in p.stderr and "not allowed" in p.stderr


def _remove_deep(top: Path, depth: int) -> None:
    """Remove top/d/d/.../d without recursion (shutil.rmtree, and so pytest's clean-up, would recurse)."""
    for n in range(depth, 0, -1):
        try:
            os.rmdir(os.path.join(str(top), *["d"] * n))
        except FileNotFoundError:
            pass


def test_invisible_characters_and_trailing_newlines_are_refused_or_removed() -> None:
    from course_utils.grader.safety import StudentIdError
    for sid in ("alice\n", "alice\r", "al ice"):
        with pytest.raises(StudentIdError):
            check_student_id(sid)
    fake = "\u3164" * 75 + "q1 2/2 passed" + "\u2800\u034f\ufe0f\u17b4\u115f\uffa0\U0001d159"
    assert clean_text(fake) == "q1 2/2 passed"


def test_kernel_keyrings_request_key_and_new_sessions_are_refused(tmp_path: Path) -> None:
    """Keys outlive the sandbox and are listed machine-wide; request_key makes the host run /sbin/request-key
    as root; setsid gives a process a scheduler group of its own (escaping the grader's nice)."""
    if os.uname().machine != "x86_64":
        pytest.skip("the probe uses x86_64 syscall numbers")
    probe = '''
def add_one(x):
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    r1 = libc.syscall(250, 0, ctypes.c_long(-4), 0)           # keyctl: the user keyring's id
    e1 = ctypes.get_errno()
    r2 = libc.syscall(249, b"user", b"debug:x", b"y", 0)       # request_key
    e2 = ctypes.get_errno()
    try:
        os.setsid()
        r3 = "setsid ok"
    except OSError as exc:
        r3 = f"setsid errno {exc.errno}"
    raise ValueError(f"keyctl {r1} errno {e1}; request_key {r2} errno {e2}; {r3}")
'''
    r = grade_notebook(toy.write_lab(tmp_path / "90_toy_lab.ipynb", toy.SOLUTION + [probe]), limits=FAST)
    msg = r.questions[0].message
    assert "keyctl -1 errno 1; request_key -1 errno 1; setsid errno 1" in msg, msg
    assert _statuses(r)["q2"] == "passed" and _statuses(r)["q3"] == "passed"


def test_honest_answers_keep_their_shape_and_lists_count_as_arrays() -> None:
    import numpy as np
    import torch

    from course_utils.grader.spec import compare_close
    back = wire.decode(wire.encode({"a": np.array(2.5), "b": np.ones((3, 4))[:, ::2]}))
    assert back["a"].shape == () and back["b"].shape == (3, 2)              # 0-d stayed 0-d
    inside = wire.decode(wire.encode(torch.tensor(1.5), lenient=True))      # a 0-d tensor, as the sandbox converts it
    assert np.asarray(inside).shape == ()
    assert compare_close([[1.0, 2.0], [3.0, 4.0]], np.arange(1.0, 5.0).reshape(2, 2))[0]
    assert not compare_close([1.0, [2.0]], np.array([1.0, 2.0]))[0]
    prog = extract_from_sources(["# a form feed \x0c and a line separator \u2028 in comments\ndef f():\n    return 1"])
    assert [u.source for u in prog.units] == ["def f():\n    return 1"]


# ---------------------------------------------------------------------------------- third red-team round

def _lab08_with(tmp_path: Path, name: str, code: str) -> Path:
    """The lab 8 (char-rnn practice) solution with its save/load cell replaced by ``code``."""
    import nbformat
    nb = nbformat.read(COURSE_ROOT / "solutions" / "08_char_rnn_practice_lab.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "def save_checkpoint" in c.source)
    cell.source = code + "\n\n" + cell.source[cell.source.index("def checkpoint_roundtrip"):]
    path = tmp_path / name / "08_char_rnn_practice_lab.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return path


CHECKPOINT_VARIANTS = {   # name -> (save/load code, q4 passes?)
    "helper_redefined": ('''
def save_checkpoint(directory, params, moments, progress):
    raise NotImplementedError
def load_checkpoint(directory):
    raise NotImplementedError
def checkpoint_roundtrip(params, moments, progress):
    return params, moments, progress
''', False),
    "kept_in_memory_by_folder": ('''
_KEPT = {}
def save_checkpoint(directory, params, moments, progress):
    _KEPT[str(directory)] = (params, moments, progress)
def load_checkpoint(directory):
    return _KEPT[str(directory)]
''', False),
    "real_files_but_loads_the_last_saved": ('''
_KEPT = []
def save_checkpoint(directory, params, moments, progress):
    d = Path(directory); d.mkdir(parents=True, exist_ok=True)
    np.savez(d / "params.npz", **params); np.savez(d / "moments.npz", **moments)
    (d / "progress.json").write_text(json.dumps(progress))
    _KEPT.append((params, moments, progress))
def load_checkpoint(directory):
    return _KEPT[-1]
''', False),
    "pickle": ('''
import pickle
def save_checkpoint(directory, params, moments, progress):
    d = Path(directory); d.mkdir(parents=True, exist_ok=True)
    (d / "state.bin").write_bytes(pickle.dumps((params, moments, progress)))
def load_checkpoint(directory):
    return pickle.loads((Path(directory) / "state.bin").read_bytes())
''', False),
    "one_compressed_archive_and_json": ('''
def save_checkpoint(directory, params, moments, progress):
    d = Path(directory); d.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(d / "state.npz", **{"p/" + k: v for k, v in params.items()},
                        **{"m/" + k: v for k, v in moments.items()})
    (d / "meta.json").write_text(json.dumps({"progress": progress, "p": list(params), "m": list(moments)}))
def load_checkpoint(directory):
    d = Path(directory)
    meta = json.loads((d / "meta.json").read_text())
    with np.load(d / "state.npz", allow_pickle=False) as z:
        return {k: z["p/" + k] for k in meta["p"]}, {k: z["m/" + k] for k in meta["m"]}, meta["progress"]
''', True),
    "npy_files_in_a_subfolder": ('''
def save_checkpoint(directory, params, moments, progress):
    d = Path(directory) / "arrays"
    d.mkdir(parents=True, exist_ok=True)
    for kind, arrays in (("p", params), ("m", moments)):
        for k, v in arrays.items():
            np.save(d / f"{kind}__{k}.npy", v)
    (Path(directory) / "progress.json").write_text(json.dumps(progress))
def load_checkpoint(directory):
    p, m = {}, {}
    for f in sorted((Path(directory) / "arrays").glob("*.npy")):
        kind, _, k = f.stem.partition("__")
        (p if kind == "p" else m)[k] = np.load(f, allow_pickle=False)
    return p, m, json.loads((Path(directory) / "progress.json").read_text())
''', True),
}


@pytest.mark.parametrize("variant", sorted(CHECKPOINT_VARIANTS))
def test_lab8_checkpoints_are_graded_through_real_files_and_a_real_load(tmp_path: Path, variant: str) -> None:
    """Credit for q4 needed no saving at all: the graded function was the notebook's own round-trip helper,
    and the expected answer the input itself."""
    code, passes = CHECKPOINT_VARIANTS[variant]
    r = grade_notebook(_lab08_with(tmp_path, variant, code), limits=FAST)
    q4 = next(q for q in r.questions if q.id == "q4")
    assert (q4.status == "passed") == passes, (q4.status, q4.message)
    if variant == "pickle":
        assert "without pickle" in q4.message


def test_lab5_numerical_gradient_is_graded_itself() -> None:
    """Analytic gradients passed off as numerical ones earned 1.5/2: numerical_gradient was never called, and
    at steps of 1e-3 and 1e-4 centred differences agree with the exact derivative to the tolerance."""
    import numpy as np

    from course_utils.grader.labs import lab05_bptt as lab
    cases = lab._q2_cases(np.random.default_rng(0))
    probes = [c for c in cases if c.func == "numerical_gradient_probe"]
    assert len(probes) == 2 and all(c.provide for c in probes)
    for c in probes + [c for c in cases if c.func == "rnn_numerical_grads"]:
        ref = lab._q2_reference(c)
        if c.func == "numerical_gradient_probe":
            exact = 3 * c.kwargs["x"] ** 2 + np.cos(c.kwargs["x"])
            assert not lab._q2_compare({"grad": exact, "restored": True}, ref, c)[0]
            assert lab._q2_compare({"grad": ref.copy(), "restored": True}, ref, c)[0]
            assert not lab._q2_compare({"grad": ref.copy(), "restored": False}, ref, c)[0]
        else:
            from course_utils.charrnn import bptt
            k = c.kwargs
            h = lab._forward(k["x"], k["h0"], k["Wx"], k["Wh"], k["b"])
            dx, dh0, dWx, dWh, db = bptt.bptt_backward(dh=k["R"], x=k["x"], h0=k["h0"], Wx=k["Wx"], Wh=k["Wh"], h=h)
            analytic = {"x": dx, "h0": dh0, "Wx": dWx, "Wh": dWh, "b": db}
            assert not lab._q2_compare(analytic, ref, c)[0], "an analytic gradient must not pass as a numerical one"


def test_attempts_csv_escapes_formulas(tmp_path: Path) -> None:
    from course_utils.grader.gradebook import formula_safe
    gb = tmp_path / "gb.sqlite"
    for sid in ("+A3+A3", "@A1", "plain"):
        sub = tmp_path / "subs" / f"{sid}.ipynb"
        sub.parent.mkdir(exist_ok=True)
        toy.write_lab(sub, toy.SOLUTION)
    r = course("grade", str(tmp_path / "subs"), "--gradebook", str(gb), "--no-progress", "--jobs", "1")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "attempts.csv"
    assert course("gradebook", "--gradebook", str(gb), "--csv", str(out)).returncode == 0
    import csv
    students = sorted(row["student"] for row in csv.DictReader(out.open(encoding="utf-8")))
    assert students == ["'+A3+A3", "'@A1", "plain"]
    assert formula_safe("=1+1") == "'=1+1" and formula_safe("-2") == "'-2" and formula_safe("ok") == "ok"


def test_markdown_reports_carry_no_bare_links() -> None:
    pytest.importorskip("mistune")
    import mistune
    render = mistune.create_markdown(plugins=["url"])
    for text in ("appeal at https://evil.example/login?next=grades", "or www.evil.example/appeal",
                 "mail help@evil.example", "[x](http://evil.example)"):
        html = render(md_escape(text))
        assert "<a " not in html, html
    assert render(md_escape("3.5: fine")).strip() == "<p>3.5: fine</p>"


def test_forked_children_share_one_memory_budget(tmp_path: Path) -> None:
    """RLIMIT_AS bounds each process: six forked children held 6 GB in one grading. The grader now sums the
    resident memory of all the sandbox's processes and stops the sandbox past the limit."""
    fan_out = '''
def add_one(x):
    import os, time
    for _ in range(3):
        if os.fork() == 0:
            import ctypes
            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)   # PR_SET_DUMPABLE 0: its /proc files now belong to root
            a = np.ones(20_000_000)          # 160 MB resident in each child
            time.sleep(10.0)
            os._exit(0)
    time.sleep(2.3)                          # the question's limit is 2.5 s: a missed limit passes test 1
    return x + 1.0
'''
    limits = SandboxLimits(load_timeout_s=4.0, start_timeout_s=30.0, total_memory_bytes=400 * 2**20)
    r = grade_notebook(toy.write_lab(tmp_path / "90_toy_lab.ipynb", toy.SOLUTION + [fan_out]), limits=limits)
    st = _statuses(r)
    assert st["q1"] != "passed" and "memory" in r.questions[0].message, r.questions[0].message
    assert st["q2"] == "passed" and st["q3"] == "passed"


def test_memory_outside_any_process_is_refused(tmp_path: Path) -> None:
    """Anonymous files (memfd_create) and System V segments (shmget) hold memory that is no process's
    resident memory, so the sandbox's memory watch would not see it: both calls are refused."""
    if os.uname().machine != "x86_64":
        pytest.skip("the probe uses x86_64 syscall numbers")
    probe = '''
def add_one(x):
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        os.memfd_create("hold")
        m = "memfd ok"
    except OSError as exc:
        m = f"memfd errno {exc.errno}"
    r = libc.syscall(29, 0, 1 << 20, 0o1000 | 0o600)      # shmget(IPC_PRIVATE, 1 MB, IPC_CREAT | 0600)
    raise ValueError(f"{m}; shmget {r} errno {ctypes.get_errno()}")
'''
    r = grade_notebook(toy.write_lab(tmp_path / "90_toy_lab.ipynb", toy.SOLUTION + [probe]), limits=FAST)
    msg = r.questions[0].message
    assert "memfd errno 1; shmget -1 errno 1" in msg, msg
    assert _statuses(r)["q2"] == "passed" and _statuses(r)["q3"] == "passed"
