"""The course exchange on a hub-like layout, with real, distinct uids (students are other processes).

Each student acts in a subprocess switched to its own uid with ``setpriv`` (we run as root in CI;
elsewhere these tests skip with a reason). The exchange is made by ``course exchange init`` with a
staff group; the instructor collects as a member of that group. Also: ``course links`` (nbgitpuller).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from course_utils.delivery import exchange as ex
from course_utils.delivery.links import LinkError, course_notebooks, nbgitpuller_link

ROOT = Path(__file__).resolve().parents[1]
SETPRIV = shutil.which("setpriv")
ALICE, BOB, CAROL, STAFF_UID, STAFF_GID = 23101, 23102, 23103, 23150, 23199
UIDS = {"alice": ALICE, "bob": BOB, "carol": CAROL, "dave": 23104}

needs_root = pytest.mark.skipif(os.geteuid() != 0 or SETPRIV is None,
                                reason="needs root and setpriv to act as distinct uids")


def as_user(uid: int, code: str, *, env: dict[str, str] | None = None, groups: tuple[int, ...] = ()) -> \
        subprocess.CompletedProcess:
    """Run Python ``code`` as ``uid`` (its own gid, only the given supplementary groups)."""
    gflag = ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
    full_env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": "/nonexistent", **(env or {})}
    return subprocess.run([SETPRIV, "--reuid", str(uid), "--regid", str(uid), *gflag, sys.executable, "-c", code],
                          capture_output=True, text=True, env=full_env, timeout=60)


@pytest.fixture
def hub(tmp_path_factory):
    """A world-traversable base with a staff-group exchange and each student's own home with a lab copy."""
    base = Path(tempfile.mkdtemp(prefix="course-hub-", dir="/tmp"))
    os.chmod(base, 0o755)
    exchange = base / "exchange"
    # init needs a named group: use an existing one (its members on this machine do not matter here), given gid
    ex.init_exchange(exchange)
    os.chown(exchange / "inbound", -1, STAFF_GID)
    os.chmod(exchange / "inbound", 0o3733)
    lab = ROOT / "labs" / "03_rnn_basics_lab.ipynb"
    homes = {}
    for name, uid in UIDS.items():
        home = base / "home" / name
        home.mkdir(parents=True)
        shutil.copy(lab, home / "03_rnn_basics_lab.ipynb")
        nb = json.loads((home / "03_rnn_basics_lab.ipynb").read_text())
        nb["metadata"]["who"] = name          # tell the copies apart
        (home / "03_rnn_basics_lab.ipynb").write_text(json.dumps(nb))
        for p in (home, home / "03_rnn_basics_lab.ipynb"):
            os.chown(p, uid, uid)
        os.chmod(home, 0o700)
    os.chmod(base / "home", 0o755)
    yield base, exchange, homes
    shutil.rmtree(base)


def drop(name: str, base: Path, exchange: Path, lab: str = "03_rnn_basics") -> subprocess.CompletedProcess:
    code = ("import sys; from course_utils.delivery.exchange import drop_if_configured\n"
            f"print(drop_if_configured({str(base / 'home' / name / '03_rnn_basics_lab.ipynb')!r}, {lab!r}))")
    return as_user(UIDS[name], code, env={"COURSE_EXCHANGE_DIR": str(exchange), "JUPYTERHUB_USER": name})


def try_as(uid: int, action: str) -> str:
    """Run one file-system ``action`` (Python statements) as ``uid``; return 'ok' or the error's name."""
    code = f"import os\ntry:\n    {action}\n    print('ok')\nexcept OSError as e:\n    print(type(e).__name__)"
    return as_user(uid, code).stdout.strip()


@needs_root
def test_drop_makes_a_private_folder_and_file(hub):
    base, exchange, _ = hub
    out = drop("alice", base, exchange)
    assert out.returncode == 0, out.stderr
    assert "Handed in to the course exchange" in out.stdout
    folder = exchange / "inbound" / "alice"
    f = folder / "03_rnn_basics_lab.ipynb"
    st_d, st_f = folder.stat(), f.stat()
    assert (st_d.st_uid, st_f.st_uid) == (ALICE, ALICE)
    assert st_d.st_gid == st_f.st_gid == STAFF_GID                      # inherited through the setgid inbound
    assert stat.S_IMODE(st_d.st_mode) == 0o2750 and stat.S_IMODE(st_f.st_mode) == 0o640
    assert json.loads(f.read_text())["metadata"]["who"] == "alice"
    assert not [p for p in folder.iterdir() if p.name.endswith(".part")]   # no temporary left behind


@needs_root
def test_other_students_cannot_read_list_replace_or_remove(hub):
    base, exchange, _ = hub
    assert drop("alice", base, exchange).returncode == 0
    inbound, mine = exchange / "inbound", exchange / "inbound" / "alice"
    f = mine / "03_rnn_basics_lab.ipynb"
    assert try_as(BOB, f"open({str(f)!r}).read()") == "PermissionError"
    assert try_as(BOB, f"os.listdir({str(inbound)!r})") == "PermissionError"       # names are not listed
    assert try_as(BOB, f"os.listdir({str(mine)!r})") == "PermissionError"
    assert try_as(BOB, f"open({str(f)!r}, 'w')") == "PermissionError"
    assert try_as(BOB, f"open({str(mine / 'x_lab.ipynb')!r}, 'w')") == "PermissionError"
    assert try_as(BOB, f"os.rename({str(mine)!r}, {str(inbound / 'stolen')!r})") == "PermissionError"  # sticky
    assert try_as(BOB, f"os.rmdir({str(mine)!r})") == "PermissionError"
    # bob's own drop works, and alice's file is untouched
    assert drop("bob", base, exchange).returncode == 0
    assert json.loads(f.read_text())["metadata"]["who"] == "alice"
    # a member of the staff group reads it; a student is not one
    staff = as_user(STAFF_UID, f"print(len(open({str(f)!r}).read()) > 0)", groups=(STAFF_GID,))
    assert staff.stdout.strip() == "True", staff.stderr


@needs_root
def test_a_squatted_or_linked_folder_is_refused_on_both_sides(hub):
    base, exchange, _ = hub
    inbound = exchange / "inbound"
    # bob makes carol's folder before she does, and puts a fake submission in it
    code = (f"import os; os.mkdir({str(inbound / 'carol')!r}, 0o750);"
            f"open({str(inbound / 'carol' / '03_rnn_basics_lab.ipynb')!r}, 'w').write('{{}}')")
    assert as_user(BOB, code).returncode == 0
    out = drop("carol", base, exchange)
    assert "NOT handed in" in out.stdout and "belongs to uid" in out.stdout and "someone else" in out.stdout
    # bob plants a symbolic link under dave's name, to his own folder
    assert drop("bob", base, exchange).returncode == 0
    assert as_user(BOB, f"import os; os.symlink({str(inbound / 'bob')!r}, {str(inbound / 'dave')!r})").returncode == 0
    out = drop("dave", base, exchange)
    assert "NOT handed in" in out.stdout and "symbolic link" in out.stdout
    assert drop("alice", base, exchange).returncode == 0

    dest = base / "collected"
    report = ex.collect(exchange, dest, uid_of=UIDS.get)
    assert sorted(s for s, _ in report.copied) == ["alice", "bob"]
    refused = dict(report.refused)
    assert "not to carol" in refused[str(inbound / "carol")]
    assert "symbolic link" in refused[str(inbound / "dave")]
    assert json.loads((dest / "alice" / "03_rnn_basics_lab.ipynb").read_text())["metadata"]["who"] == "alice"


@needs_root
def test_collect_refuses_foreign_files_and_hard_links(hub):
    base, exchange, _ = hub
    for name in ("alice", "bob"):
        assert drop(name, base, exchange).returncode == 0
    bob_dir = exchange / "inbound" / "bob"
    # a file in bob's folder that is alice's (as an administrator could leave it), and a hard link
    os.link(exchange / "inbound" / "alice" / "03_rnn_basics_lab.ipynb", bob_dir / "05_bptt_lab.ipynb")
    planted = bob_dir / "04_min_char_rnn_lab.ipynb"
    planted.write_text("{}")
    os.chown(planted, ALICE, ALICE)
    report = ex.collect(exchange, base / "out", uid_of=UIDS.get)
    refused = dict(report.refused)
    assert "not to the folder's owner" in refused[str(bob_dir / "05_bptt_lab.ipynb")]
    assert "not to the folder's owner" in refused[str(bob_dir / "04_min_char_rnn_lab.ipynb")]
    # alice's file now has two links: refused too (the instructor looks), never taken as bob's
    assert "hard links" in refused[str(exchange / "inbound" / "alice" / "03_rnn_basics_lab.ipynb")]
    assert [(s, p.name) for s, p in report.copied] == [("bob", "03_rnn_basics_lab.ipynb")]
    # where owners are not checked (one uid for all), a hard link is still refused
    refused = dict(ex.collect(exchange, base / "out2", check_owner=False).refused)
    assert "hard links" in refused[str(bob_dir / "05_bptt_lab.ipynb")]
    assert "hard links" in refused[str(exchange / "inbound" / "alice" / "03_rnn_basics_lab.ipynb")]


@needs_root
def test_students_sharing_one_uid_rely_on_mounts(hub):
    """Zero to JupyterHub's default: one uid for all; the instructor collects without the owner check."""
    base, exchange, _ = hub
    for name in ("alice", "bob"):
        code = ("from course_utils.delivery.exchange import drop_submission\n"
                f"print(drop_submission({str(base / 'home' / name / '03_rnn_basics_lab.ipynb')!r}, "
                f"{str(exchange)!r}, name={name!r}))")
        os.chown(base / "home" / name, ALICE, ALICE)
        os.chown(base / "home" / name / "03_rnn_basics_lab.ipynb", ALICE, ALICE)
        assert as_user(ALICE, code).returncode == 0
    assert len(ex.collect(exchange, base / "a", uid_of=UIDS.get).refused) == 1   # bob's folder is uid alice's
    report = ex.collect(exchange, base / "b", check_owner=False)
    assert not report.refused and len(report.copied) == 2


@needs_root
def test_folders_made_from_a_roster_cannot_be_squatted(hub):
    base, exchange, _ = hub
    ex.init_exchange(exchange, students=["alice", "carol"], uid_of=UIDS.get)
    os.chown(exchange / "inbound", -1, STAFF_GID)          # init without --group reset it; keep the staff group
    st = (exchange / "inbound" / "carol").stat()
    assert st.st_uid == CAROL and stat.S_IMODE(st.st_mode) == 0o700
    # bob cannot take carol's name any more, and carol's drop goes into her folder
    assert try_as(BOB, f"os.mkdir({str(exchange / 'inbound' / 'carol')!r})") == "FileExistsError"
    assert try_as(BOB, f"open({str(exchange / 'inbound' / 'carol' / '03_rnn_basics_lab.ipynb')!r}, 'w')") \
        == "PermissionError"
    out = drop("carol", base, exchange)
    assert "Handed in" in out.stdout, out
    # one uid for all (mounted folders): every folder belongs to it
    ex.init_exchange(base / "shared", students=["alice", "bob"], owner_uid=ALICE)
    assert {(base / "shared" / "inbound" / n).stat().st_uid for n in ("alice", "bob")} == {ALICE}
    with pytest.raises(ex.ExchangeError, match="no account"):
        ex.init_exchange(base / "x", students=["zed"], uid_of=UIDS.get)


def test_an_unsafe_inbound_is_refused(tmp_path):
    inbound = tmp_path / "x" / "inbound"
    inbound.mkdir(parents=True)
    os.chmod(inbound, 0o777)                             # world-writable without the sticky bit
    nb = tmp_path / "03_rnn_basics_lab.ipynb"
    nb.write_text("{}")
    with pytest.raises(ex.ExchangeError, match="sticky"):
        ex.drop_submission(nb, tmp_path / "x", name="alice")
    with pytest.raises(ex.ExchangeError, match="course exchange init"):
        ex.drop_submission(nb, tmp_path / "missing", name="alice")
    with pytest.raises(ex.ExchangeError, match="cannot name"):
        ex.drop_submission(nb, tmp_path / "x", name="../bob")
    with pytest.raises(ex.ExchangeError, match="not the name of a lab"):
        ex.drop_submission(tmp_path / "03_rnn_basics_lab.ipynb", tmp_path / "x", name="alice", lab="notes")


@needs_root
def test_a_name_the_hub_did_not_mount_fails_loudly(hub):
    """One uid for all, each student's folder mounted: inbound itself is not writable, another name fails."""
    base, exchange, _ = hub
    os.chmod(exchange / "inbound", 0o755)                 # what the container has around the mounted folder
    out = drop("alice", base, exchange)
    assert "NOT handed in" in out.stdout and "tell your instructor" in out.stdout


def test_without_exchange_dir_submit_does_not_hand_in(monkeypatch, tmp_path):
    monkeypatch.delenv(ex.EXCHANGE_ENV, raising=False)
    assert ex.drop_if_configured(tmp_path / "03_rnn_basics_lab.ipynb", "03_rnn_basics") is None
    monkeypatch.setenv(ex.EXCHANGE_ENV, str(tmp_path / "nowhere"))
    msg = ex.drop_if_configured(ROOT / "labs" / "03_rnn_basics_lab.ipynb", "03_rnn_basics")
    assert msg.startswith("NOT handed in") and "course exchange init" in msg


@pytest.mark.slow
def test_submit_hands_in_and_course_grade_reads_the_collection(monkeypatch, tmp_path, capsys):
    """The whole path on one machine: submit() -> exchange -> collect -> course grade -> gradebook."""
    from course_utils.cli import main
    from course_utils.grader.submit import submit_notebook

    exchange = tmp_path / "exchange"
    assert main(["exchange", "init", str(exchange)]) == 0
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(ROOT / "solutions" / "03_rnn_basics_lab.ipynb", work / "my-copy.ipynb")
    monkeypatch.setenv(ex.EXCHANGE_ENV, str(exchange))
    monkeypatch.setenv("JUPYTERHUB_USER", "erin")
    monkeypatch.setenv("COURSE_GRADEBOOK", str(tmp_path / "student-gradebook.sqlite"))
    result = submit_notebook("03_rnn_basics", path=work / "my-copy.ipynb", show=False)
    assert result is not None
    assert "Handed in to the course exchange" in capsys.readouterr().out
    dropped = exchange / "inbound" / "erin" / "03_rnn_basics_lab.ipynb"
    assert dropped.read_bytes() == (work / "my-copy.ipynb").read_bytes()

    dest = tmp_path / "collected"
    uid = os.geteuid()
    monkeypatch.setattr(ex, "_default_uid_of", lambda name: uid if name == "erin" else None)
    assert main(["exchange", "collect", "--exchange", str(exchange), "--to", str(dest)]) == 0
    gradebook = tmp_path / "instructor.sqlite"
    assert main(["grade", str(dest), "--gradebook", str(gradebook), "--json"]) == 0
    graded = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = graded if isinstance(graded, list) else [graded]
    assert any(r.get("student") == "erin" and r.get("score") == r.get("max_score") for r in rows), rows


# ----------------------------------------------------------------------------------- nbgitpuller links

def test_nbgitpuller_link_round_trips():
    link = nbgitpuller_link("https://hub.example.edu/", "https://git.example.edu/acme/cnn-rnn.git",
                            "lectures/03_rnn_basics.ipynb", branch="spring-26")
    parts = urlsplit(link)
    assert parts.scheme == "https" and parts.netloc == "hub.example.edu"
    assert parts.path == "/hub/user-redirect/git-pull"
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert q == {"repo": "https://git.example.edu/acme/cnn-rnn.git", "branch": "spring-26",
                 "urlpath": "lab/tree/cnn-rnn/lectures/03_rnn_basics.ipynb"}
    q2 = parse_qs(urlsplit(nbgitpuller_link("https://h.edu", "https://g.edu/a/b", "x y.ipynb", target="course",
                                            interface="tree")).query)
    assert q2["urlpath"] == ["tree/course/x%20y.ipynb"] and q2["targetPath"] == ["course"]


@pytest.mark.parametrize("hub,repo,msg", [("hub.example.edu", "https://g.edu/a/b", "not an http"),
                                          ("https://h.edu?x=1", "https://g.edu/a/b", "query"),
                                          ("https://h.edu", "https://g.edu/", "repository's name")])
def test_nbgitpuller_link_rejects_bad_addresses(hub, repo, msg):
    with pytest.raises(LinkError, match=msg):
        nbgitpuller_link(hub, repo, "lectures/01_cnn_visualisation.ipynb")


def test_course_links_lists_every_lecture_and_lab(capsys):
    from course_utils.cli import main
    assert main(["links", "--hub", "https://hub.example.edu", "--repo", "https://g.edu/acme/course"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    lectures = sorted(p.name for p in (ROOT / "lectures").glob("[0-9][0-9]*.ipynb"))
    labs = sorted(p.name for p in (ROOT / "labs").glob("*_lab.ipynb"))
    paths = [line.split("\t")[0] for line in lines]
    assert sorted(Path(p).name for p in paths) == sorted(lectures + labs)
    assert not any(p.startswith("solutions/") for p in course_notebooks())
    assert main(["links", "--hub", "ftp://x", "--repo", "https://g.edu/acme/course"]) == 2
