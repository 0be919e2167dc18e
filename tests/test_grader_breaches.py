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


def _run_probe(source: str, func: str = "add_one", timeout_s: float = 60, limits: SandboxLimits = FAST) -> object:
    """Run ``func()`` of ``source`` in a sandbox and return its value (the grader no longer relays exception
    messages from student code, so a probe reports through its return value)."""
    with Sandbox(extract_from_sources([source]), limits=limits) as box:
        [ans] = box.run_cases([Case(func, {})], timeout_s)
    assert ans.ok, ans.error
    return ans.value


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
        assert r.total == 0 and r.isolation.startswith(describe_isolation(mode) + "; limits: ")
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
    assert "class defined in your code" in q2.message and "Leak" not in q2.message   # hidden value in a type name
    assert "class defined in your code" in q1.message and "boom" not in q1.message
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
    source = f"def add_one(x):\n    import numpy as np\n    return np.zeros({per_case // 8})"
    import numpy as np

    from course_utils.grader.sandbox import QuestionAborted
    with Sandbox(extract_from_sources([source]), limits=FAST) as box:    # no time limit a slow machine reaches
        with pytest.raises(QuestionAborted) as info:
            box.run_cases([Case("add_one", {"x": np.zeros(1)})] * 3, 600)
    assert "add up to more than" in str(info.value), str(info.value)
    assert len(info.value.answers) == 2


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
def add_one():
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
    return f"keyctl {r1} errno {e1}; request_key {r2} errno {e2}; {r3}"
'''
    msg = _run_probe(probe)
    assert msg == "keyctl -1 errno 1; request_key -1 errno 1; setsid errno 1", msg


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
            x = {"x": c.kwargs["x"].copy()}                        # x as the grader reads it back
            assert not lab._q2_compare((exact, x), ref, c)[0]
            assert lab._q2_compare((ref.copy(), x), ref, c)[0]
            assert not lab._q2_compare((ref.copy(), {"x": c.kwargs["x"] + 1e-3}), ref, c)[0]
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


@pytest.mark.parametrize("limits_mode", ["auto", "off"])
def test_forked_children_share_one_memory_budget(tmp_path: Path, monkeypatch, limits_mode: str) -> None:
    """RLIMIT_AS bounds each process: six forked children held 6 GB in one grading. A sandbox's processes now
    share one memory limit (its cgroup's, or the grader's watch where there is none) and the whole sandbox stops
    past it. Deterministic: the children hold their memory and the call never returns by itself, so it can end
    only by the memory limit (or, failing the test, by a time limit far above any machine's slowness)."""
    fan_out = '''
def add_one():
    import os, time
    import numpy as np
    for _ in range(3):
        if os.fork() == 0:
            import ctypes
            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)   # PR_SET_DUMPABLE 0: its /proc files now belong to root
            a = np.ones(20_000_000)          # 160 MB resident in each child, held until the sandbox is killed
            time.sleep(3600)
            os._exit(0)
    time.sleep(3600)
'''
    limits = SandboxLimits(load_timeout_s=30.0, start_timeout_s=60.0, total_memory_bytes=400 * 2**20)
    from course_utils.grader import cgroup
    from course_utils.grader.sandbox import QuestionAborted
    monkeypatch.setenv(cgroup.CGROUP_ENV, limits_mode)      # the kernel's limit where there is one, and the watch
    cgroup.support.cache_clear()
    try:
        with Sandbox(extract_from_sources([fan_out]), limits=limits) as box:
            assert ("no cgroup" in box.describe_limits()) == (limits_mode == "off" or cgroup.support().version is None)
            with pytest.raises(QuestionAborted) as info:
                box.run_cases([Case("add_one", {})], 600)
    finally:
        monkeypatch.undo()
        cgroup.support.cache_clear()
    assert "memory" in str(info.value) and "time limit" not in str(info.value), str(info.value)


def test_memory_outside_any_process_is_refused(tmp_path: Path) -> None:
    """Anonymous files (memfd_create) and System V segments (shmget) hold memory that is no process's
    resident memory, so the sandbox's memory watch would not see it: both calls are refused."""
    if os.uname().machine != "x86_64":
        pytest.skip("the probe uses x86_64 syscall numbers")
    probe = '''
def add_one():
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        os.memfd_create("hold")
        m = "memfd ok"
    except OSError as exc:
        m = f"memfd errno {exc.errno}"
    r = libc.syscall(29, 0, 1 << 20, 0o1000 | 0o600)      # shmget(IPC_PRIVATE, 1 MB, IPC_CREAT | 0600)
    return f"{m}; shmget {r} errno {ctypes.get_errno()}"
'''
    msg = _run_probe(probe)
    assert msg == "memfd errno 1; shmget -1 errno 1", msg


# ---------------------------------------------------------------------------------- fourth hostile round
def _solution_with(tmp_path: Path, lab: str, name: str, code: str) -> Path:
    """The solution of ``lab`` with ``code`` appended as a last cell (the last definition of a name wins)."""
    import nbformat
    nb = nbformat.read(COURSE_ROOT / "solutions" / f"{lab}_lab.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(code))
    path = tmp_path / name / f"{lab}_lab.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return path


NAMESPACE_PROBE = '''
def add_one():
    import ctypes, os, subprocess, threading
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    out = {}
    def call(name, *args):
        r = libc.syscall(*[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
        out[name] = [int(r), ctypes.get_errno()]
    call("unshare", 272, 0x10000000 | 0x00020000)            # CLONE_NEWUSER | CLONE_NEWNS
    call("setns", 308, 0, 0)
    call("clone", 56, 0x10000000 | 17, 0, 0, 0, 0)          # CLONE_NEWUSER | SIGCHLD
    call("clone3", 435, 0, 0)
    call("mount", 165, b"tmpfs", b"/tmp", b"tmpfs", 0, b"size=4g")
    call("fsopen", 430, b"tmpfs", 0)
    call("io_uring_setup", 425, 8, 0)
    call("ioctl_tiocsti", 16, 0, 0x5412, b"x")
    t = threading.Thread(target=lambda: None)
    t.start(); t.join()
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    out["fork"] = os.waitpid(pid, 0)[1] >> 8
    out["subprocess"] = subprocess.run(["/bin/true"]).returncode
    out["mounts"] = [l.split()[1] + " " + l.split()[3] for l in open("/proc/self/mounts")
                     if l.split()[1] in ("/tmp", "/var/tmp", "/dev/shm", "/run")]
    return out
'''


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the probe uses x86_64 syscall numbers")
@pytest.mark.parametrize("mode", _modes() or ["plain"])
def test_no_new_namespaces_mounts_or_io_uring_and_every_tmpfs_bounds_inodes(monkeypatch, mode: str) -> None:
    """Student code unshared a user and mount namespace and mounted a tmpfs of any size: pages there are no
    process's memory, so the grader's watch never saw ~4 GiB (and the kernel killed the grader). Now every
    way to a new namespace or mount is refused (clone3 with ENOSYS, so libc falls back to clone), io_uring
    and terminal injection too; threads, fork and subprocesses still work; and every private tmpfs bounds
    its number of files (836 k empty files had cost ~829 MB of kernel memory)."""
    monkeypatch.setenv("COURSE_SANDBOX_MODE", mode)
    isolation_mode.cache_clear()
    try:
        out = _run_probe(NAMESPACE_PROBE)
    finally:
        isolation_mode.cache_clear()
    EPERM, ENOSYS = 1, 38
    for name in ("unshare", "setns", "clone", "mount", "fsopen", "io_uring_setup", "ioctl_tiocsti"):
        assert out[name] == [-1, EPERM], (name, out[name])
    assert out["clone3"] == [-1, ENOSYS]
    assert out["fork"] == 7 and out["subprocess"] == 0
    if mode != "plain":
        assert sorted(out["mounts"]) and all("nr_inodes=" in m for m in out["mounts"]), out["mounts"]


def test_the_seccomp_filter_is_well_formed() -> None:
    """An audit of the filter itself: every jump lands inside the program and ends in a return; both
    architectures refuse the same calls."""
    sys.path.insert(0, str(COURSE_ROOT / "course_utils" / "grader"))
    try:
        import sandbox_main
    finally:
        sys.path.pop(0)
    for machine in ("x86_64", "aarch64"):
        prog = sandbox_main.seccomp_program(machine)
        assert prog[-1][0] == 0x06 and prog[-2][0] == 0x06
        for i, (code, jt, jf, k) in enumerate(prog):
            if code & 0x07 == 0x05:                       # a jump: both targets inside, forward
                assert i + 1 + max(jt, jf) < len(prog)
    assert {"unshare", "setns", "mount", "io_uring_setup", "fsopen", "bpf", "keyctl", "setsid"} <= set(sandbox_main._DENIED)


def test_sandbox_processes_read_back_the_intended_oom_score_adj() -> None:
    """oom_score_adj 1000 was written after the drop to a fresh uid; the write failed with EACCES and was
    swallowed: every sandbox process read back 0. It is now set before exec and verified."""
    SANDBOX_OOM_SCORE_ADJ = 1000          # first in line for the kernel's OOM killer
    probe = '''
def add_one():
    import os
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, open("/proc/self/oom_score_adj").read().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    return [open("/proc/self/oom_score_adj").read().strip(), os.read(r, 16).decode().strip()]
'''
    assert _run_probe(probe) == [str(SANDBOX_OOM_SCORE_ADJ)] * 2
    with Sandbox(extract_from_sources([probe]), limits=FAST) as box:     # ... and as the host sees them
        box.run_cases([Case("add_one", {})], 60)
        pids = [box._proc.pid] + sorted(_descendants(box._proc.pid))
        seen = {Path(f"/proc/{p}/oom_score_adj").read_text().strip() for p in pids if _alive(p)}
    assert seen == {str(SANDBOX_OOM_SCORE_ADJ)}, seen


def test_the_cgroup_limit_covers_tmpfs_files_and_is_in_force(tmp_path: Path) -> None:
    """Memory held in files of the private tmpfs mounts is charged to the sandbox: past its limit the kernel
    kills inside the sandbox and the question says so; the next question runs in a fresh sandbox."""
    from course_utils.grader import cgroup
    sup = cgroup.support()
    if sup.version is None:
        pytest.skip(f"no cgroup here ({sup.reason}); the fallback is tested by the memory-budget test")
    hog = '''
def add_one(x):
    import os, time
    import numpy as np
    for d in ("/tmp", "/var/tmp", "/dev/shm"):
        for i in range(4):
            try:
                with open(os.path.join(d, f"f{i}"), "wb") as f:
                    f.write(b"x" * (15 << 20))
            except OSError:
                break
    a = np.ones(31_000_000)             # 248 MB: under the 384 MiB limit alone, over it with ~180 MB of files
    time.sleep(3600)
    return x + 1.0

def norm(x):
    return float((x ** 2).sum() ** 0.5)
'''
    limits = SandboxLimits(load_timeout_s=30.0, start_timeout_s=60.0, total_memory_bytes=384 * 2**20)
    with Sandbox(extract_from_sources([hog]), limits=limits) as box:
        box._ensure_loaded()
        inner = box._inner_pid or box._proc.pid
        groups = Path(f"/proc/{inner}/cgroup").read_text()
        assert box._cgroup is not None and box._cgroup.memory_limit() == 384 * 2**20
        if sup.version == "v1" and box.mode != "bwrap":       # bwrap's cgroup namespace shows "/"
            assert "course-grade-" in groups, groups
        from course_utils.grader.sandbox import QuestionAborted
        import numpy as np
        with pytest.raises(QuestionAborted) as info:          # no time limit that a slow machine could reach
            box.run_cases([Case("add_one", {"x": np.zeros(3)})], 600)
        assert "memory" in str(info.value) and "kernel" in str(info.value), str(info.value)
        [again] = box.run_cases([Case("norm", {"x": np.ones(4)})], 600)   # a fresh sandbox for what follows
        assert again.ok and again.value == 2.0
    assert "cgroup" in box.describe_limits()


@pytest.mark.full
def test_a_tmpfs_hog_in_a_memory_limited_batch_leaves_every_honest_student_recorded(tmp_path: Path) -> None:
    """In a batch of honest students plus one submission that filled a tmpfs in a namespace of its own,
    graded with --jobs 2 on a machine with 2.5 GiB free, the kernel killed `course grade` itself (rc 137).
    Here `course grade` runs inside a cgroup of 2.5 GiB: the hog (a tmpfs if it can, else forked processes)
    fails, every honest student is recorded with full marks, and the batch exits 0."""
    from course_utils.grader import cgroup
    sup = cgroup.support()
    if sup.version is None:
        pytest.skip(f"no cgroup to hold the grader in ({sup.reason})")
    hog = '''
class Hog:                                          # a class body runs while the notebook loads (30 s)
    import ctypes, os, time
    import numpy as np
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(4, 1, 0, 0, 0)                          # dumpable again: its own /proc files are writable
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(0x10000000 | 0x00020000) == 0:     # a user + mount namespace, root inside it
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    if libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, b"size=8g,nr_inodes=0") == 0:
        for i in range(800):                           # 8 MB files (under RLIMIT_FSIZE): 6.4 GB
            with open(f"/tmp/f{i}", "wb") as f:
                os.posix_fallocate(f.fileno(), 0, 8 << 20)
    for _ in range(8):                                 # else: 8 x 400 MB in forked processes
        if os.fork() == 0:
            a = np.ones(50_000_000)
            time.sleep(60)
            os._exit(0)
    time.sleep(20)
'''
    subs = tmp_path / "subs"
    honest = [f"s{i}" for i in range(6)]
    for sid in honest:
        toy.write_lab(subs / f"{sid}.ipynb", toy.SOLUTION)
    toy.write_lab(subs / "hog.ipynb", toy.SOLUTION + [hog])
    outer = cgroup.SandboxCgroup.create(sup, memory_bytes=int(2.5 * 2**30), pids=4096)
    gb = tmp_path / "gb.sqlite"
    try:
        files = outer.procs_files()

        def join() -> None:
            for f in files:
                with open(f, "w") as fh:
                    fh.write("0")
        r = subprocess.run(toy.course_cmd() + ["grade", str(subs), "--gradebook", str(gb), "--no-progress",
                                               "--jobs", "2", "--json"],
                           capture_output=True, text=True, timeout=900, preexec_fn=join)
    finally:
        outer.remove()
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    rows = {row["student"]: row for row in Gradebook(gb).rows()}
    for sid in honest:
        assert sid in rows and rows[sid]["total"] == rows[sid]["max"], (sid, rows.get(sid))
    assert "hog" in rows             # graded too: the statement that held the memory is skipped and reported


def test_stale_temporary_folders_and_cgroups_of_killed_graders_are_removed(tmp_path: Path) -> None:
    """An OOM-killed grader left /tmp/course-grade-* behind; each grading now removes those (and sandbox
    cgroups) whose owner process is gone -- never one of a running grader."""
    from course_utils.grader import cgroup
    from course_utils.grader.sandbox import TEMP_PREFIX, remove_stale_temp
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = tmp_path / f"{TEMP_PREFIX}{gone.pid}-abc"
    (dead / "work").mkdir(parents=True)
    (dead / "work" / "f").write_text("x")
    live = tmp_path / f"{TEMP_PREFIX}{os.getpid()}-abc"
    live.mkdir()
    other = tmp_path / f"{TEMP_PREFIX}notapid"
    other.mkdir()
    assert remove_stale_temp(str(tmp_path)) == 1
    assert not dead.exists() and live.exists() and other.exists()
    sup = cgroup.support()
    if sup.version is not None:
        parent = next(iter(sup.parents.values()))
        stale = Path(parent) / f"{cgroup.PREFIX}{gone.pid}-0000"
        mine = Path(parent) / f"{cgroup.PREFIX}{os.getpid()}-0000"
        stale.mkdir()
        mine.mkdir()
        try:
            cgroup.remove_stale(sup)
            assert not stale.exists() and mine.exists()
        finally:
            for d in (stale, mine):
                if d.exists():
                    d.rmdir()


def test_submit_records_only_under_the_runners_checked_id(tmp_path: Path, monkeypatch, capsys) -> None:
    """submit(student="bob") replaced bob's 10/10 with 0; an id with terminal escapes was stored and printed
    raw by `course gradebook` and the Canvas export."""
    from course_utils.grader.submit import submit_notebook
    gb = tmp_path / "gb.sqlite"
    monkeypatch.setenv("COURSE_GRADEBOOK", str(gb))
    nb = toy.write_lab(tmp_path / "90_toy_lab.ipynb", toy.BLANK)
    monkeypatch.setenv("COURSE_STUDENT_ID", "alice")
    assert submit_notebook("90_toy", path=nb, student="bob", show=False) is None
    assert "not you" in capsys.readouterr().out
    evil = "bob\x1b[2J\x1b[31mFAKE"
    monkeypatch.setenv("COURSE_STUDENT_ID", evil)
    assert submit_notebook("90_toy", path=nb, show=False) is None
    out = capsys.readouterr().out
    assert "\x1b" not in out and "not allowed" in out
    assert not gb.exists() or Gradebook(gb).rows() == []
    monkeypatch.setenv("COURSE_STUDENT_ID", "alice")
    r = submit_notebook("90_toy", path=nb, student="alice", show=False)
    assert r is not None and [row["student"] for row in Gradebook(gb).rows()] == ["alice"]
    # a row written by anything else (an older grader) is printed and exported inert
    import sqlite3
    with sqlite3.connect(gb) as con:
        con.execute("UPDATE attempts SET student = ?, finished_at = ?", (evil, "2026\x1b]0;x\x07"))
    shown = course("gradebook", "--gradebook", str(gb))
    canvas = course("gradebook", "--gradebook", str(gb), "--format", "canvas")
    attempts = tmp_path / "a.csv"
    course("gradebook", "--gradebook", str(gb), "--csv", str(attempts))
    for text in (shown.stdout, canvas.stdout, attempts.read_text()):
        assert "\x1b" not in text and "\x07" not in text, repr(text)
    with pytest.raises(ValueError):          # and the gradebook refuses such an id itself
        Gradebook(gb).record(r.__class__(**{**r.__dict__, "student": evil}))


def test_the_unchanged_skip_keys_on_the_lab(tmp_path: Path) -> None:
    """A lab notebook graded once, then again with --lab of another lab, was reported "unchanged since
    attempt 1" with rc 0 instead of being refused."""
    gb = tmp_path / "gb.sqlite"
    nb = toy.write_lab(tmp_path / "alice.ipynb", toy.SOLUTION)
    assert course("grade", str(nb), "--gradebook", str(gb), "--no-progress").returncode == 0
    again = course("grade", str(nb), "--gradebook", str(gb), "--no-progress")
    assert again.returncode == 0 and "is unchanged since" in again.stdout
    wrong = course("grade", str(nb), "--gradebook", str(gb), "--no-progress", "--lab", "03_rnn_basics")
    assert wrong.returncode == 2 and "is unchanged since" not in wrong.stdout + wrong.stderr, wrong.stdout + wrong.stderr
    assert "not lab 03_rnn_basics" in wrong.stderr


def test_feedback_about_hidden_cases_carries_no_student_text(tmp_path: Path) -> None:
    """A value spelled as words passed the long-number filter; with a known seed the report decoded exactly to
    the hidden input. Messages about hidden cases now hold only the grader's words: a built-in exception's
    name, a real place in the notebook, magnitudes -- nothing the submission wrote or shaped."""
    spell = '''
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

def _spell(v):
    return " ".join(WORDS[int(c)] for c in f"{abs(v):.6f}".replace(".", ""))

def add_one(x):
    raise ValueError(_spell(float(x.ravel()[0])))

def norm(x):
    raise type("E" + _spell(float(x[0])).replace(" ", "_"), (Exception,), {})("x")

def sgd_step(w, g, lr):
    w -= lr * g * (1 + abs(float(w[0])) * 1e-3)        # off by a relative error that encodes w[0]
'''
    r = grade_notebook(toy.write_lab(tmp_path / "90_toy_lab.ipynb", toy.BLANK + [spell]), limits=FAST, seed=11)
    text = json.dumps(r.to_json())
    for word in ("zero", "three", "seven", "nine", "Ezero", "Eone"):
        assert word not in text, word
    q3 = r.questions[2]
    assert q3.score == 0 and "about 1e" in q3.message, q3.message
    import re
    assert not re.search(r"\d\.\d\de", q3.message), q3.message      # no mantissa: a power of ten only


def test_forged_in_place_evidence_scores_no_more_than_the_plain_mistake() -> None:
    """Lab 4: the mutant that rebinds instead of updating in place scored 8.43/9; four added lines that
    rewrote the probe's local variables made it 9/9. The evidence is now memory the grader reads itself."""
    import numpy as np

    from course_utils.grader.labs import lab04_min_char_rnn as lab
    cases = [c for c in lab._q3_cases(np.random.default_rng(3)) if c.shared]
    assert len(cases) == 2
    for c in cases:
        expected = lab._q3_reference(c)
        untouched = {d: {k: v.copy() for k, v in c.kwargs[d].items()} for d in ("params", "mems")}
        # whatever the sandbox *says* (the forged dicts), the grader judges what the shared memory holds
        assert not lab._q3_compare((None, untouched), expected, c)[0]
        assert "did not change" in lab._q3_compare((None, untouched), expected, c)[1]
        assert lab._q3_compare((None, expected[1]), expected, c)[0]


def test_forged_restore_evidence_scores_no_more_than_the_plain_mistake() -> None:
    """Lab 5: a numerical_gradient that never restores x got 0.6/2; patching np.array_equal lifted it to 1.0/2.
    Whether x was restored is now read by the grader from memory it shares with the sandbox."""
    import numpy as np

    from course_utils.grader.labs import lab05_bptt as lab
    probes = [c for c in lab._q2_cases(np.random.default_rng(0)) if c.func == "numerical_gradient_probe"]
    assert probes and all(c.shared == ("x",) for c in probes)
    for c in probes:
        ref = lab._q2_reference(c)
        left = c.kwargs["x"] - c.kwargs["h"]
        assert not lab._q2_compare((ref.copy(), {"x": left}), ref, c)[0]
        assert lab._q2_compare((ref.copy(), {"x": c.kwargs["x"].copy()}), ref, c)[0]


FORGED = {   # lab -> (plain mistake, the same mistake with the forgery of issue 21), judged question
    "04_min_char_rnn": ('''
def adagrad_update(params, grads, mems, learning_rate=0.1, clip=5.0):
    for k in params:
        g = grads[k] if clip is None else np.clip(grads[k], -clip, clip)
        mems[k] = mems[k] + g * g
        params[k] = params[k] - learning_rate * g / np.sqrt(mems[k] + 1e-8)
''', '''
import sys

def _rebinding(params, grads, mems, learning_rate=0.1, clip=5.0):
    for k in params:
        g = grads[k] if clip is None else np.clip(grads[k], -clip, clip)
        mems[k] = mems[k] + g * g
        params[k] = params[k] - learning_rate * g / np.sqrt(mems[k] + 1e-8)

def adagrad_update(params, grads, mems, learning_rate=0.1, clip=5.0):
    _rebinding(params, grads, mems, learning_rate, clip)
    caller = sys._getframe(1).f_locals                  # rewrite the probe's evidence
    for name, src in (("kept_p", params), ("kept_m", mems)):
        if isinstance(caller.get(name), dict):
            caller[name].update(src)
''', "q3"),
    "05_bptt": ('''
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        grad[i] = (fp - fm) / (2 * h)
    return grad
''', '''
def numerical_gradient(f, x, h=1e-5):
    np.array_equal = lambda a, b, equal_nan=False: True     # fool a probe that compares x before and after
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        grad[i] = (fp - fm) / (2 * h)
    return grad
''', "q2"),
}


@pytest.mark.full
@pytest.mark.parametrize("lab", sorted(FORGED))
def test_forged_probe_variants_score_no_more_than_the_plain_mistakes(tmp_path: Path, monkeypatch, lab: str) -> None:
    monkeypatch.delenv("COURSE_GRADER_LABS", raising=False)
    plain, forged, qid = FORGED[lab]
    scores = []
    for name, code in (("plain", plain), ("forged", forged)):
        r = grade_notebook(_solution_with(tmp_path, lab, name, code), seed=21)
        scores.append(next(q for q in r.questions if q.id == qid).score)
    assert scores[0] < next(q.points for q in __import__("course_utils.grader.registry", fromlist=["x"])
                            .get_lab(lab).questions if q.id == qid)
    assert scores[1] <= scores[0], scores


def test_a_constant_sampler_scores_zero_on_every_case_whatever_the_seed() -> None:
    """Lab 4: `sample` returning [0] * n scored 1.5/3 once and 0.5/3 in three more runs (the n = 1 case always
    passed, the 300-sample test sometimes). The models are now drawn so no constant (or greedy) answer passes."""
    import numpy as np

    from course_utils.grader.labs import lab04_min_char_rnn as lab
    for seed in range(12):
        for c in lab._q2_cases(np.random.default_rng(seed)):
            expected = lab._q2_reference(c)
            V = c.kwargs["Wxh"].shape[1]
            for const in range(V):
                got = [[const]] * len(c.kwargs["seeds"]) if c.func == "sample_first_draws" else [const] * c.kwargs["n"]
                assert not lab._q2_compare(got, expected, c)[0], (seed, c.label, const)


def _zeros_like(v: object) -> object:
    import numpy as np
    if isinstance(v, np.ndarray):
        return np.zeros_like(v)
    if isinstance(v, (list, tuple)):
        return type(v)(_zeros_like(x) for x in v)
    if isinstance(v, dict):
        return {k: _zeros_like(x) for k, x in v.items()}
    return type(v)(0) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


_OTHERS_LABS: set[str] = set()   # labs left out of the trivial-answer test (none now)


def _trivial_answers(case, expected) -> dict[str, object]:
    out: dict[str, object] = {"None": None, "0.0": 0.0, **{str(i): i for i in range(10)},
                              "zeros": _zeros_like(expected), "first input": next(iter(case.kwargs.values()), None)}
    shared = getattr(case, "shared", ())
    if case.returns_kwargs or shared:
        back = {k: case.kwargs[k] for k in (*case.returns_kwargs, *shared)}
        # the same answers from a student who also leaves the inputs as they were (what a careful one would do)
        out.update({f"{name}, inputs unchanged": (value, back) for name, value in list(out.items())})
        out["no change"] = (None, back)
    return out


@pytest.mark.parametrize("lab_id", sorted(set(__import__("course_utils.grader.registry", fromlist=["x"]).all_labs())
                                          - _OTHERS_LABS))
def test_no_case_of_any_question_rewards_a_trivial_answer(lab_id: str, monkeypatch) -> None:
    """Every question rewards only work: constants (None, 0-9, 0.0), zeros of the expected structure, an input
    handed back, or doing nothing, fail every hidden case, whatever the grading seed."""
    import numpy as np

    from course_utils.grader.registry import all_labs
    monkeypatch.delenv("COURSE_GRADER_LABS", raising=False)
    lab = all_labs()[lab_id]
    passing = []
    for q in lab.questions:
        for seed in range(3):
            for c in q.make_cases(np.random.default_rng(seed)):
                expected = q.reference(c)
                for name, got in _trivial_answers(c, expected).items():
                    got = (got, got) if getattr(q, "then", None) is not None else got
                    try:
                        ok = q.judge(got, expected, c)[0]
                    except Exception:
                        ok = False
                    if ok:
                        passing.append((q.id, seed, c.label or c.func, name))
    assert not passing, passing
