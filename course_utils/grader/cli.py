"""``course grade``, ``course gradebook`` and ``course validate`` (registered by :mod:`course_utils.cli`).

    course grade PATH... [--student ID] [--lab L] [--json] [--jobs N] [--seed S] [--budget SECONDS]
                         [--force] [--gradebook PATH] [--no-record] [--report-dir DIR]
    course gradebook [--lab L] [--student ID] [--csv FILE] [--format attempts|canvas] [--detail]
                     [--gradebook PATH]
    course validate [--lab L] [--mutants DIR]

Exit status of ``course grade``: 0 when every submission was graded and recorded (or skipped as
unchanged), 2 when some file could not be graded (bad input -- not a notebook, a symbolic link,
too large, an unsafe student id ...: nothing recorded for it), 3 when the sandbox itself failed.
A folder of submissions is graded by ``--jobs`` worker processes (default: the number of cores),
each submission within its own time budget; one that brings a worker down is retried alone and, if
it does so again, refused -- the batch always goes on.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

__all__ = ["register", "collect_submissions", "collect", "default_jobs"]


def default_jobs() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


MAX_DEPTH = 4            # folders below a folder given to `course grade` that are searched
MAX_ENTRIES = 100_000    # files and folders looked at in one folder given to `course grade`


def _shown(path: Path | str) -> str:
    """A path as inert text for the terminal and reports (a file name can hold escapes and newlines)."""
    from .safety import clean_text
    return clean_text(os.fsdecode(path) if not isinstance(path, str) else path, 300, numbers=False)


def _utf8_name(path: Path) -> bool:
    """False for a name with bytes that are not UTF-8 (Python holds them as surrogates)."""
    try:
        str(path).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def collect(paths: list[Path]) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """Expand files and folders into ``(notebook, student id)`` pairs and ``(path, why refused)`` pairs.

    A file given by itself gets :func:`~course_utils.grader.student.student_id` (``$COURSE_STUDENT_ID``,
    else its stem unless it is named after the lab, else the login name); inside a folder, a notebook
    directly in it is named by its stem and one in a sub-folder by that sub-folder's name
    (``submissions/alice/03_rnn_basics_lab.ipynb``).
    Symbolic links (to files or folders) are refused, never followed; so are ids that could not
    safely name a report file. ``.ipynb_checkpoints`` folders are ignored.
    """
    from .safety import STUDENT_ID_RULE, StudentIdError, check_student_id, clean_text
    from .identity import student_id
    found: list[tuple[Path, str]] = []
    refused: list[tuple[Path, str]] = []

    def add(nb: Path, sid: str) -> None:
        try:
            found.append((nb, check_student_id(sid)))
        except StudentIdError:
            refused.append((nb, f"{_shown(nb)}: the student id {ascii(sid)[:80]} taken from its "
                                f"name is not allowed ({STUDENT_ID_RULE}); rename it or grade it with --student"))

    def link(path: Path, what: str) -> None:
        refused.append((path, f"{_shown(path)}: is a symbolic link{what}; submissions must be regular files and "
                              "folders (a link is not graded as its target)"))

    for p in paths:
        if not _utf8_name(p):
            refused.append((p, f"{_shown(p)}: its name is not valid UTF-8 text; rename it"))
            continue
        if p.is_symlink():
            link(p, "")
            continue
        if not p.is_dir():
            found.append((p, student_id(p)))   # the id submit() would use; checked before grading
            continue
        # breadth-first, without recursion, at most MAX_DEPTH folders deep and MAX_ENTRIES entries in all
        queue: list[tuple[Path, int]] = [(p, 0)]
        seen = 0
        while queue:
            here, depth = queue.pop(0)
            try:
                with os.scandir(here) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                refused.append((here, f"{_shown(here)}: cannot be read ({clean_text(exc.strerror, 80)})"))
                continue
            seen += len(entries)
            if seen > MAX_ENTRIES:
                refused.append((here, f"{_shown(p)}: more than {MAX_ENTRIES:,} files and folders; the rest was not "
                                      "searched (grade a smaller folder)"))
                break
            for e in entries:
                path = here / e.name
                if not _utf8_name(path):
                    if e.name.endswith(".ipynb") or e.is_dir(follow_symlinks=False):
                        refused.append((path, f"{_shown(path)}: its name is not valid UTF-8 text; rename it"))
                    continue
                if e.is_symlink():
                    if e.name.endswith(".ipynb"):
                        link(path, "")
                    elif e.name != ".ipynb_checkpoints" and e.is_dir(follow_symlinks=True):
                        link(path, " to a folder")
                    continue
                if e.is_dir(follow_symlinks=False):
                    if e.name == ".ipynb_checkpoints":
                        continue
                    if depth + 1 > MAX_DEPTH:
                        refused.append((path, f"{_shown(path)}: nested more than {MAX_DEPTH} folders deep; "
                                              "not searched"))
                        continue
                    queue.append((path, depth + 1))
                elif e.name.endswith(".ipynb"):
                    rel = path.relative_to(p)
                    add(path, rel.parts[0] if len(rel.parts) > 1 else path.stem)
    found.sort(key=lambda t: str(t[0]))
    return found, refused


def collect_submissions(paths: list[Path]) -> list[tuple[Path, str]]:
    """The gradable ``(notebook, student id)`` pairs of :func:`collect` (refused paths left out)."""
    return collect(paths)[0]


def _worker_init() -> None:
    """A grading worker dies with ``course grade`` (and its sandboxes die with it)."""
    from .limited import set_parent_death_signal
    set_parent_death_signal()


def _run(jobs: list[tuple[Any, ...]], n_jobs: int) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Grade ``jobs`` (arguments of ``grade_safely``), yielding ``(job, outcome)`` as each finishes.

    One submission is graded in this process; several by ``n_jobs`` worker processes. A job whose
    worker dies is retried alone in a fresh worker; dying again, it becomes an error outcome.
    """
    from .grade import grade_safely
    if len(jobs) <= 1:
        for job in jobs:
            yield job, grade_safely(*job)
        return
    ctx = multiprocessing.get_context("spawn")
    pending, alone = list(jobs), False
    while pending:
        broken: list[tuple[Any, ...]] = []
        groups = [pending] if not alone else [[job] for job in pending]
        for group in groups:
            with ProcessPoolExecutor(max_workers=min(n_jobs, len(group)), mp_context=ctx,
                                     initializer=_worker_init) as pool:
                futures = {pool.submit(grade_safely, *job): job for job in group}
                for fut in as_completed(futures):
                    job = futures[fut]
                    try:
                        out = fut.result()
                    except BrokenProcessPool:
                        if alone:
                            out = {"error": f"{job[0]}: the grading process died while grading this file "
                                            "(twice); nothing was recorded"}
                        else:
                            broken.append(job)
                            continue
                    except Exception as exc:  # noqa: BLE001
                        out = {"error": f"{job[0]}: could not be graded ({type(exc).__name__}); nothing was recorded"}
                    yield job, out
        pending, alone = broken, True


class _Progress:
    """A progress bar with ETA on stderr for folder grading (silent when stderr is not a terminal)."""

    def __init__(self, total: int, enabled: bool):
        self.bar = None
        if enabled and total > 1:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, unit="nb", desc="grading", file=sys.stderr, dynamic_ncols=True,
                            disable=None, smoothing=0.1)

    def write(self, text: str, file: Any = None) -> None:
        if self.bar is not None and not self.bar.disable:
            self.bar.write(text, file=file or sys.stdout)
        else:
            print(text, file=file or sys.stdout, flush=True)

    def step(self, note: str = "") -> None:
        if self.bar is not None:
            if note:
                self.bar.set_postfix_str(note, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _clean_leftovers() -> None:
    """Before a batch: remove what graders that were killed left behind (their temporary folders and sandbox
    cgroups, only where the process that made them is gone), and set up this grader's cgroup (a delegated v2
    cgroup moves the grader into a leaf of its own: before any worker process starts)."""
    from . import cgroup
    from .sandbox import remove_stale_temp
    remove_stale_temp()
    cgroup.remove_stale(cgroup.support())


def _cmd_grade(args: argparse.Namespace) -> int:
    from .gradebook import Gradebook, default_gradebook_path
    from .grade import SubmissionError, read_submission_file
    from .safety import StudentIdError, check_student_id

    if args.student is not None:
        try:
            check_student_id(args.student)
        except StudentIdError as exc:
            print(f"course grade: {exc}", file=sys.stderr)
            return 2
    if args.budget is not None and not args.budget > 0:
        print("course grade: --budget must be a positive number of seconds", file=sys.stderr)
        return 2
    _clean_leftovers()
    subs, refused = collect(args.paths)
    if not subs and not refused:
        print("course grade: no notebooks found in " + ", ".join(map(str, args.paths)), file=sys.stderr)
        return 2
    if args.student is not None and len(subs) + len(refused) > 1:
        print("course grade: --student needs exactly one notebook (in a folder, ids come from file or "
              "sub-folder names)", file=sys.stderr)
        return 2
    status = 0
    for path, why in refused:
        status = 2
        print(f"course grade: {why}", file=sys.stderr)
        if args.json:
            print(json.dumps({"path": _shown(path), "error": why}), flush=True)
    gb_path = Path(args.gradebook) if args.gradebook else default_gradebook_path()
    gradebook = None if args.no_record else Gradebook(gb_path)
    private = (str(gb_path.resolve().parent), *(str(p.resolve()) for p in args.paths if p.is_dir()))
    jobs = []
    for p, sid in subs:
        student = args.student if args.student is not None else sid
        try:
            check_student_id(student)
        except StudentIdError as exc:
            status = 2
            print(f"course grade: {_shown(p)}: {exc}; grade it with --student ID", file=sys.stderr)
            if args.json:
                print(json.dumps({"path": _shown(p), "error": str(exc)}), flush=True)
            continue
        if gradebook is not None and not args.force and args.seed is None:
            try:
                sha = __import__("hashlib").sha256(read_submission_file(p)).hexdigest()
            except SubmissionError:
                sha = None
            # keyed on the lab too: with --lab, a notebook graded before as another lab is not "unchanged" but
            # graded, and refused as the wrong lab
            row = gradebook.latest(student, sha, lab=args.lab) if sha else None
            if row is not None:
                msg = (f"{student}: {_shown(p)} is unchanged since attempt {row['id']} ({row['total']:g}/{row['max']:g}, "
                       f"{_shown(row['finished_at'])}); not graded again (--force re-grades)")
                print(json.dumps({"path": _shown(p), "student": student, "skipped": "unchanged", "attempt": row["id"],
                                  "lab": _shown(row["lab"]), "total": row["total"], "max": row["max"]})
                      if args.json else msg, flush=True)
                continue
        jobs.append((str(p), student, args.seed, args.lab, private, args.budget))
    progress = _Progress(len(jobs), enabled=not args.no_progress)
    try:
        status = max(status, _emit(_run(jobs, max(1, args.jobs)), args, gradebook, progress))
    finally:
        progress.close()
    return status


def _emit(outcomes: Any, args: argparse.Namespace, gradebook: Any, progress: _Progress) -> int:
    """Record, report and print each outcome as it arrives; return the exit status."""
    from .grade import result_from_json
    from .report import to_html, to_markdown, to_text
    from .safety import clean_text
    status = 0
    for job, out in outcomes:
        if "result" not in out:
            status = max(status, 3 if "fatal" in out else 2)
            msg = clean_text(out.get("fatal") or out.get("error"), 2000, numbers=False)
            progress.write(f"course grade: {msg}", file=sys.stderr)
            if args.json:
                progress.write(json.dumps({"path": _shown(job[0]), "student": job[1], "error": msg}))
            progress.step("refused")
            continue
        try:               # one file's recording or report can fail (disk full, odd names): the batch goes on
            result = result_from_json(out["result"])
            if gradebook is not None:
                gradebook.record(result)
            if args.report_dir:
                d = Path(args.report_dir).resolve()
                d.mkdir(parents=True, exist_ok=True)
                stem = f"{result.student}_{result.lab}"
                for suffix, render in ((".md", to_markdown), (".html", to_html)):
                    target = (d / f"{stem}{suffix}").resolve()
                    if target.parent != d:   # ids are checked already; this is a second lock
                        raise ValueError(f"refusing to write a report outside {d}: {target}")
                    target.write_text(render(result), encoding="utf-8")
        except Exception as exc:  # noqa: BLE001
            status = max(status, 2)
            msg = clean_text(f"{_shown(job[0])}: graded, but recording or reporting it failed: "
                             f"{type(exc).__name__}: {exc}", 2000, numbers=False)
            progress.write(f"course grade: {msg}", file=sys.stderr)
            if args.json:
                progress.write(json.dumps({"path": _shown(job[0]), "student": job[1], "error": msg}))
            progress.step("failed")
            continue
        progress.write(json.dumps(result.to_json()) if args.json else to_text(result))
        progress.step(f"{result.student} {result.total:g}/{result.max:g}")
    return status


def _cmd_gradebook(args: argparse.Namespace) -> int:
    from .gradebook import Gradebook
    gb = Gradebook(args.gradebook)
    if args.format == "canvas":
        if args.csv:
            n = gb.export_canvas(args.csv, lab=args.lab, detail=args.detail, policy=args.policy)
            print(f"wrote {n} students to {args.csv} (Canvas gradebook import)", file=sys.stderr)
        else:
            gb.export_canvas(sys.stdout, lab=args.lab, detail=args.detail, policy=args.policy)
        return 0
    if args.csv:
        n = gb.export_csv(args.csv, lab=args.lab)
        print(f"wrote {n} attempts to {args.csv}")
        return 0
    from .safety import clean_text
    rows = gb.rows(lab=args.lab, student=args.student)
    if not rows:
        print(f"no attempts recorded in {_shown(str(gb.path))}" + (f" for lab {_shown(args.lab)}" if args.lab else ""))
        return 0

    def t(value: Any, width: int) -> str:   # every field as inert text: a row may hold anything (older graders)
        return clean_text(value, width, numbers=False)
    print(f"{'id':>5}  {'student':<20} {'lab':<20} {'score':>13}  {'graded at (UTC)':<25} seed")
    for r in rows:
        print(f"{r['id']:>5}  {t(r['student'], 20):<20} {t(r['lab'], 20):<20} {r['total']:>6g}/{r['max']:<6g}  "
              f"{t(r['finished_at'], 25):<25} {t(r['seed'], 25)}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from .validate import format_table, validate_all
    checks = validate_all(lab=args.lab, mutants_dir=args.mutants)
    print(format_table(checks))
    bad = [c for c in checks if not c.ok]
    if not checks:
        print("course validate: no lab has a solution notebook yet; nothing to check")
        return 0
    if bad:
        print(f"course validate: {len(bad)} of {len(checks)} checks FAILED", file=sys.stderr)
        return 1
    print(f"course validate: all {len(checks)} checks passed")
    return 0


def register(subparsers: Any) -> None:
    """Add ``grade``, ``gradebook`` and ``validate`` to the ``course`` command."""
    p = subparsers.add_parser("grade", help="grade lab notebooks in the sandbox and record them in the gradebook")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="notebooks or folders of submissions")
    p.add_argument("--student", help="student id (default: $COURSE_STUDENT_ID, else the file stem, or the login name for a file "
                   "named after its lab; inside a folder: file stem or sub-folder name)")
    p.add_argument("--lab", help="refuse notebooks of any other lab (e.g. 03_rnn_basics)")
    p.add_argument("--json", action="store_true", help="print one JSON object per submission")
    p.add_argument("--jobs", type=int, default=default_jobs(),
                   help=f"grade N submissions at once (default: the number of cores, here {default_jobs()})")
    p.add_argument("--seed", type=int, default=None, help="reuse a recorded seed to reproduce a grading (implies --force)")
    p.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                   help="wall-clock limit for grading one submission, everything included "
                        "(default $COURSE_GRADE_BUDGET or 180)")
    p.add_argument("--force", action="store_true",
                   help="grade again submissions whose notebook is unchanged since their last recorded attempt")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--gradebook", default=None, help="SQLite file (default $COURSE_GRADEBOOK or grades/gradebook.sqlite)")
    p.add_argument("--no-record", action="store_true", help="do not write to the gradebook")
    p.add_argument("--report-dir", default=None, help="also write STUDENT_LAB.md and .html feedback reports here")
    p.set_defaults(func=_cmd_grade)

    p = subparsers.add_parser("gradebook", help="show or export the gradebook")
    p.add_argument("--lab", default=None, help="only this lab")
    p.add_argument("--student", default=None, help="only this student")
    p.add_argument("--csv", default=None, metavar="FILE", help="export to a CSV file")
    p.add_argument("--format", choices=("attempts", "canvas"), default="attempts",
                   help="attempts: every attempt, one column per question; canvas: one row per student and one "
                        "column per lab, for an LMS gradebook import (to --csv FILE, else stdout)")
    p.add_argument("--detail", action="store_true", help="canvas: also one column per question")
    p.add_argument("--policy", choices=("latest", "best"), default="latest",
                   help="canvas: which attempt counts (default the latest)")
    p.add_argument("--gradebook", default=None, help="SQLite file (default $COURSE_GRADEBOOK or grades/gradebook.sqlite)")
    p.set_defaults(func=_cmd_gradebook)

    p = subparsers.add_parser("validate", help="check every lab's grader: solution full, blank zero, mutants lose")
    p.add_argument("--lab", default=None, help="only this lab")
    p.add_argument("--mutants", type=Path, default=None, help="folder of mutants (default tests/mutants)")
    p.set_defaults(func=_cmd_validate)
