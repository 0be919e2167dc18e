"""``course grade``, ``course gradebook`` and ``course validate`` (registered by :mod:`course_utils.cli`).

    course grade PATH... [--student ID] [--lab L] [--json] [--jobs N] [--seed S]
                         [--gradebook PATH] [--no-record] [--report-dir DIR]
    course gradebook [--lab L] [--student ID] [--csv FILE] [--gradebook PATH]
    course validate [--lab L] [--mutants DIR]

Exit status of ``course grade``: 0 when every submission was graded and recorded, 2 when some file
could not be graded (bad input: nothing recorded for it), 3 when the sandbox itself failed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

__all__ = ["register", "collect_submissions"]


def collect_submissions(paths: list[Path]) -> list[tuple[Path, str]]:
    """Expand files and folders into ``(notebook, student id)`` pairs.

    A file's student id is its stem; inside a folder, a notebook directly in it is named by its stem
    and one in a sub-folder by that sub-folder's name (``submissions/alice/03_rnn_basics_lab.ipynb``).
    """
    found: list[tuple[Path, str]] = []
    for p in paths:
        if p.is_dir():
            for nb in sorted(p.rglob("*.ipynb")):
                rel = nb.relative_to(p)
                if ".ipynb_checkpoints" in rel.parts:
                    continue
                found.append((nb, rel.parts[0] if len(rel.parts) > 1 else nb.stem))
        else:
            found.append((p, p.stem))
    return found


def _cmd_grade(args: argparse.Namespace) -> int:
    from .grade import grade_safely
    from .gradebook import Gradebook, default_gradebook_path

    subs = collect_submissions(args.paths)
    if not subs:
        print("course grade: no notebooks found in " + ", ".join(map(str, args.paths)), file=sys.stderr)
        return 2
    if args.student and len(subs) > 1:
        print("course grade: --student needs exactly one notebook (in a folder, ids come from file or "
              "sub-folder names)", file=sys.stderr)
        return 2
    gb_path = Path(args.gradebook) if args.gradebook else default_gradebook_path()
    gradebook = None if args.no_record else Gradebook(gb_path)
    private = (str(gb_path.resolve().parent), *(str(p.resolve()) for p in args.paths if p.is_dir()))
    jobs = [(str(p), args.student or sid, args.seed, args.lab, private) for p, sid in subs]
    if args.jobs > 1 and len(jobs) > 1:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=ctx) as pool:
            outcomes = pool.map(grade_safely, *zip(*jobs))
            return _emit(outcomes, jobs, args, gradebook)
    return _emit((grade_safely(*j) for j in jobs), jobs, args, gradebook)


def _emit(outcomes: Any, jobs: list[tuple[Any, ...]], args: argparse.Namespace, gradebook: Any) -> int:
    """Record, report and print each outcome as it arrives; return the exit status."""
    from .grade import result_from_json
    from .report import to_html, to_markdown, to_text
    status = 0
    for job, out in zip(jobs, outcomes):
        if "result" not in out:
            status = max(status, 3 if "fatal" in out else 2)
            msg = out.get("fatal") or out.get("error")
            print(f"course grade: {msg}", file=sys.stderr)
            if args.json:
                print(json.dumps({"path": job[0], "student": job[1], "error": msg}), flush=True)
            continue
        result = result_from_json(out["result"])
        if gradebook is not None:
            gradebook.record(result)
        if args.report_dir:
            d = Path(args.report_dir)
            d.mkdir(parents=True, exist_ok=True)
            stem = f"{result.student}_{result.lab}"
            (d / f"{stem}.md").write_text(to_markdown(result), encoding="utf-8")
            (d / f"{stem}.html").write_text(to_html(result), encoding="utf-8")
        print(json.dumps(result.to_json()) if args.json else to_text(result), flush=True)
    return status


def _cmd_gradebook(args: argparse.Namespace) -> int:
    from .gradebook import Gradebook
    gb = Gradebook(args.gradebook)
    if args.csv:
        n = gb.export_csv(args.csv, lab=args.lab)
        print(f"wrote {n} attempts to {args.csv}")
        return 0
    rows = gb.rows(lab=args.lab, student=args.student)
    if not rows:
        print(f"no attempts recorded in {gb.path}" + (f" for lab {args.lab}" if args.lab else ""))
        return 0
    print(f"{'id':>5}  {'student':<20} {'lab':<20} {'score':>13}  {'graded at (UTC)':<25} seed")
    for r in rows:
        print(f"{r['id']:>5}  {r['student'][:20]:<20} {r['lab'][:20]:<20} {r['total']:>6g}/{r['max']:<6g}  "
              f"{r['finished_at']:<25} {r['seed']}")
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
    p.add_argument("--student", help="student id (default: file stem, or sub-folder name inside a folder)")
    p.add_argument("--lab", help="refuse notebooks of any other lab (e.g. 03_rnn_basics)")
    p.add_argument("--json", action="store_true", help="print one JSON object per submission")
    p.add_argument("--jobs", type=int, default=1, help="grade N submissions at once (default 1)")
    p.add_argument("--seed", type=int, default=None, help="reuse a recorded seed to reproduce a grading")
    p.add_argument("--gradebook", default=None, help="SQLite file (default $COURSE_GRADEBOOK or grades/gradebook.sqlite)")
    p.add_argument("--no-record", action="store_true", help="do not write to the gradebook")
    p.add_argument("--report-dir", default=None, help="also write STUDENT_LAB.md and .html feedback reports here")
    p.set_defaults(func=_cmd_grade)

    p = subparsers.add_parser("gradebook", help="show or export the gradebook")
    p.add_argument("--lab", default=None, help="only this lab")
    p.add_argument("--student", default=None, help="only this student")
    p.add_argument("--csv", default=None, metavar="FILE", help="export to a CSV file")
    p.add_argument("--gradebook", default=None, help="SQLite file (default $COURSE_GRADEBOOK or grades/gradebook.sqlite)")
    p.set_defaults(func=_cmd_gradebook)

    p = subparsers.add_parser("validate", help="check every lab's grader: solution full, blank zero, mutants lose")
    p.add_argument("--lab", default=None, help="only this lab")
    p.add_argument("--mutants", type=Path, default=None, help="folder of mutants (default tests/mutants)")
    p.set_defaults(func=_cmd_validate)
