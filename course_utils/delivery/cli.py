"""``course release``, ``course export gradescope|prairielearn``, ``course similarity`` (registered by ``course_utils.cli``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def _cmd_release(args: argparse.Namespace) -> int:
    from .release import ReleaseError, build_release
    try:
        report = build_release(args.out, force=args.force)
    except (ReleaseError, OSError) as exc:
        print(f"course release: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


def _labs(args: argparse.Namespace) -> list[str]:
    from ..grader.registry import lab_ids
    if args.all:
        return lab_ids()
    if not args.lab:
        raise ValueError("name a lab (e.g. 03_rnn_basics) or pass --all")
    return [args.lab]


def _cmd_export(args: argparse.Namespace) -> int:
    from .edition import is_student_edition
    if is_student_edition():
        print("course export: this is the student edition (no hidden tests); export from the instructor's checkout",
              file=sys.stderr)
        return 2
    try:
        labs = _labs(args)
        for lab in labs:
            if args.platform == "gradescope":
                from .gradescope import build_zip
                out = Path(args.out)
                if args.all:
                    out = out / f"{lab}_autograder.zip" if out.suffix != ".zip" else out.with_name(f"{lab}_{out.name}")
                info = build_zip(lab, out, visibility=args.visibility, max_per_day=args.max_per_day,
                                 budget_s=args.budget)
                print(f"{out}: Gradescope autograder of lab {lab} ({info['bytes'] / 1024:.0f} KiB; "
                      f"{info['max_points']:g} points)")
            else:
                from .prairielearn import export_question
                out = Path(args.out) / lab if args.all else Path(args.out)
                info = export_question(lab, out, image=args.image, timeout_s=args.timeout)
                print(f"{out}: PrairieLearn question {info['question']} and grading image context "
                      f"{info['image_context']} (docker build -t {info['image']} {info['image_context']})")
    except (KeyError, ValueError, OSError) as exc:
        print(f"course export: {str(exc).strip(chr(39))}", file=sys.stderr)
        return 2
    return 0


def _cmd_similarity(args: argparse.Namespace) -> int:
    from .similarity import compare_all, load_submissions, write_csv, write_html
    folder = Path(args.dir)
    if not folder.is_dir():
        print(f"course similarity: {folder}: not a folder of notebooks", file=sys.stderr)
        return 2
    subs, problems = load_submissions(folder, args.lab)
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    if not subs:
        print(f"course similarity: no lab notebooks found in {folder}", file=sys.stderr)
        return 2
    pairs = compare_all(subs, with_course=not args.no_course)
    if args.csv:
        write_csv(pairs, args.csv)
    if args.html:
        write_html(pairs, args.html, threshold=args.threshold, problems=problems)
    flagged = [p for p in pairs if p.score >= args.threshold]
    print(f"{len(subs)} notebooks, {len(pairs)} pairs; {len(flagged)} at or above {args.threshold:g}")
    for p in flagged[:20]:
        print(f"  {p.score:.3f}  {p.a}  {p.b}  ({p.lab})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from .similarity import DEFAULT_THRESHOLD
    p = sub.add_parser("release", help="write the student edition of the course (no solutions, no hidden tests)")
    p.add_argument("out", type=Path, help="a new or empty folder (a student repository's working tree with --force)")
    p.add_argument("--force", action="store_true", help="replace the content of a non-empty folder (keeps its .git)")
    p.set_defaults(func=_cmd_release)

    p = sub.add_parser("export", help="autograder packages for Gradescope or PrairieLearn")
    esub = p.add_subparsers(dest="platform", required=True, metavar="PLATFORM")
    g = esub.add_parser("gradescope", help="a Gradescope autograder zip (setup.sh, run_autograder)")
    g.add_argument("lab", nargs="?", help="lab id, e.g. 03_rnn_basics")
    g.add_argument("--all", action="store_true", help="every lab (--out is then a folder)")
    g.add_argument("--out", required=True, help="FILE.zip (a folder with --all)")
    g.add_argument("--visibility", default="visible", help="of each question's result: visible, after_published, "
                                                            "after_due_date or hidden")
    g.add_argument("--max-per-day", type=int, default=None,
                   help="graded submissions per 24 h; more keep the previous results (submission_metadata.json)")
    g.add_argument("--budget", type=float, default=420.0, help="grading time budget in seconds (Gradescope allows 600)")
    g.set_defaults(func=_cmd_export)
    q = esub.add_parser("prairielearn", help="a PrairieLearn question folder and its grading image")
    q.add_argument("lab", nargs="?", help="lab id, e.g. 03_rnn_basics")
    q.add_argument("--all", action="store_true", help="every lab, one folder each under --out")
    q.add_argument("--out", required=True, help="a new folder")
    q.add_argument("--image", default="course-cnn-rnn-grader:latest", help="the grading image's name on Docker Hub")
    q.add_argument("--timeout", type=int, default=300, help="externalGradingOptions.timeout in seconds")
    q.set_defaults(func=_cmd_export)

    p = sub.add_parser("similarity", help="copying report over a folder of submitted notebooks")
    p.add_argument("dir", help="folder of notebooks (sub-folders too)")
    p.add_argument("--lab", default=None, help="compare only this lab's notebooks")
    p.add_argument("--csv", default=None, help="write a,b,lab,score (highest first)")
    p.add_argument("--html", default=None, help="write the ranked table with side-by-side views")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="flag pairs at or above this score")
    p.add_argument("--no-course", action="store_true", help="do not compare with course_utils and the solutions")
    p.set_defaults(func=_cmd_similarity)
