"""Autograder figures: latency per lab (median of 5) and throughput with ``--jobs 2``.

    .venv/bin/python benchmarks/bench_grader.py [--repeats 5] [--copies 8]

Latency: ``course grade solutions/<lab>_lab.ipynb --no-record`` end to end (a fresh process, as an
instructor or ``submit()`` would run it), and the in-process grading time it reports. Throughput:
``--copies`` copies of every solution graded by one ``course grade --jobs 2`` call. Target: a lab
graded in under 15 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COURSE = str(Path(sys.executable).with_name("course"))


def _grade(args: list[str]) -> tuple[float, list[dict]]:
    t0 = time.perf_counter()
    p = subprocess.run([COURSE, "grade", *args, "--json", "--no-record"], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"course grade failed:\n{p.stderr}")
    return wall, [json.loads(line) for line in p.stdout.splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--copies", type=int, default=8, help="copies of each solution in the throughput run")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from course_utils.grader.registry import all_labs
    from course_utils.grader.sandbox import describe_isolation, isolation_mode

    labs = [lab for lab in all_labs() if (ROOT / "solutions" / f"{lab}_lab.ipynb").exists()]
    print(f"{describe_isolation(isolation_mode())}")
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
    with tempfile.TemporaryDirectory() as tmp:
        n = 0
        for lab in labs:
            for i in range(args.copies):
                d = Path(tmp) / f"student{n:03d}"
                d.mkdir()
                shutil.copy(ROOT / "solutions" / f"{lab}_lab.ipynb", d / f"{lab}_lab.ipynb")
                n += 1
        if n:
            wall, results = _grade([tmp, "--jobs", "2"])
            assert len(results) == n
            print(f"throughput: {n} submissions with --jobs 2 in {wall:.1f} s = {n / wall * 60:.1f} per minute "
                  f"({wall / n:.2f} s each)")


if __name__ == "__main__":
    main()
