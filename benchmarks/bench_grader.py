"""Autograder figures: latency per lab, throughput on a class, worst case for a hostile submission.

    .venv/bin/python benchmarks/bench_grader.py [--repeats 5] [--copies 100] [--jobs 2] [--lab 03_rnn_basics]
                                               [--skip-latency] [--skip-throughput] [--skip-hostile]

Latency: ``course grade solutions/<lab>_lab.ipynb --no-record`` end to end (a fresh process, as an
instructor or ``submit()`` would run it), median of ``--repeats``, and the in-process grading time
it reports. Throughput: ``--copies`` copies of one solution (``--lab``) graded by one
``course grade --jobs N`` call, as an instructor grades a class. Worst case: a submission of the
same lab written to use up every limit -- every graded function an endless loop, then 200
statements that sleep while loading, then a 213 kB cell of ``x?`` lines -- graded with the default budget;
the figure must stay under that budget plus the sandbox's clean-up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COURSE = str(Path(sys.executable).with_name("course"))


def _grade(args: list[str], check: bool = True) -> tuple[float, list[dict]]:
    t0 = time.perf_counter()
    p = subprocess.run([COURSE, "grade", *args, "--json", "--no-record", "--no-progress"],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if check and p.returncode != 0:
        raise SystemExit(f"course grade failed:\n{p.stderr}")
    return wall, [json.loads(line) for line in p.stdout.splitlines()]


def _hostile_notebook(lab: str, target: Path) -> None:
    import nbformat

    from course_utils.grader.registry import get_lab
    spec = get_lab(lab)
    names = sorted({n for q in spec.questions for n in q.names})
    cells = ["import numpy as np\nimport os, struct, sys, time"]
    for n in names:
        cells.append(f"def {n}(*args, **kwargs):\n    while True:\n        pass")
    cells.append("\n\n".join(f"class Sleep{i}:\n    time.sleep(1000)" for i in range(200)))
    cells.append("x?\n" * 71_000)
    nb = nbformat.v4.new_notebook()
    nb.metadata["course"] = {"lab": lab}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, str(target))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--copies", type=int, default=100, help="copies of one solution in the throughput run")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--lab", default="03_rnn_basics", help="the lab used for throughput and the worst case")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-hostile", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from course_utils.grader.grade import default_budget
    from course_utils.grader.registry import all_labs
    from course_utils.grader.sandbox import describe_isolation, isolation_mode

    print(describe_isolation(isolation_mode()))
    print(f"cores: {os.cpu_count()}, load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    labs = [lab for lab in all_labs() if (ROOT / "solutions" / f"{lab}_lab.ipynb").exists()]
    if not args.skip_latency:
        print(f"{'lab':<18} {'wall (median)':>14} {'grading (median)':>17} {'min':>7} {'max':>7}  score")
        for lab in labs:
            nb = ROOT / "solutions" / f"{lab}_lab.ipynb"
            walls, inner, score = [], [], ""
            for _ in range(args.repeats):
                wall, (r,) = _grade([str(nb)])
                walls.append(wall)
                inner.append(r["duration"])
                score = f"{r['total']:g}/{r['max']:g}"
            flag = "" if statistics.median(walls) < 15 else "  (over the 15 s target)"
            print(f"{lab:<18} {statistics.median(walls):>12.2f} s {statistics.median(inner):>15.2f} s "
                  f"{min(walls):>6.2f}s {max(walls):>6.2f}s  {score}{flag}")
    solution = ROOT / "solutions" / f"{args.lab}_lab.ipynb"
    if not solution.exists():
        raise SystemExit(f"{solution} is missing: pick another --lab")
    if not args.skip_throughput:
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.copies):
                d = Path(tmp) / f"student{i:03d}"
                d.mkdir()
                shutil.copy(solution, d / solution.name)
            wall, results = _grade([tmp, "--jobs", str(args.jobs)])
            assert len(results) == args.copies and all(r["total"] == r["max"] for r in results)
            print(f"throughput ({args.lab}): {args.copies} submissions with --jobs {args.jobs} in {wall:.1f} s = "
                  f"{args.copies / wall * 60:.1f} per minute ({wall / args.copies:.2f} s each; grading "
                  f"{statistics.median(r['duration'] for r in results):.2f} s median per submission)")
    if not args.skip_hostile:
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / f"{args.lab}_lab.ipynb"
            _hostile_notebook(args.lab, target)
            wall, (r,) = _grade([str(target)])
            statuses = ", ".join(f"{q['id']} {q['status']}" for q in r["questions"])
            print(f"worst case ({args.lab}, hostile): {wall:.1f} s wall, {r['duration']:.1f} s grading, budget "
                  f"{default_budget():g} s; score {r['total']:g}/{r['max']:g}; {statuses}")


if __name__ == "__main__":
    main()
