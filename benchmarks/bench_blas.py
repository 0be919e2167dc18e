"""BLAS threads for the course's default CLI: is the default within 10% of the best setting?

    .venv/bin/python benchmarks/bench_blas.py [--seconds 8] [--repeats 1] [--corpus shakespeare]

Runs ``course charrnn train --model minchar-batched --seconds N`` (the README's command) as a fresh
process with each BLAS setting -- the default (``COURSE_BLAS_THREADS`` unset), 1, 2, ... up to the
number of cores, and ``auto`` (OpenBLAS's own default: one thread per core) -- in two conditions:

* quiet: nothing else started by this script (other users of the machine are not controlled:
  the load average is printed);
* busy: one extra process spins in a Python busy loop, keeping one core busy, as a browser, a
  second notebook or a test run does on a student's laptop.

It prints chars/s for every setting side by side and the ratio of the default to the best setting
in each condition; the goal is ratio >= 0.90. Exit status 1 when it is not met.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_EXE = Path(sys.executable).with_name("course")
COURSE = [str(_EXE)] if _EXE.exists() else [sys.executable, "-m", "course_utils.cli"]


def settings() -> list[str]:
    n = os.cpu_count() or 1
    return ["default"] + [str(k) for k in range(1, n + 1)] + ["auto"]


def run_once(setting: str, seconds: float, corpus: str, out: Path) -> float:
    """chars/s of one ``course charrnn train`` process with COURSE_BLAS_THREADS=setting."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("COURSE_BLAS_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if setting != "default":
        env["COURSE_BLAS_THREADS"] = setting
    cmd = COURSE + ["charrnn", "train", "--model", "minchar-batched", "--corpus", corpus,
                    "--seconds", str(seconds), "--json", "--no-progress", "--out", str(out)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr}")
    return float(json.loads(res.stdout)["chars_per_second"])


def measure(seconds: float, repeats: int, corpus: str, busy: bool) -> dict[str, float]:
    """Best of ``repeats`` chars/s per setting; settings interleaved so drifting load hits all alike."""
    spinner = None
    if busy:
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(1.0)
    try:
        best: dict[str, float] = {}
        with tempfile.TemporaryDirectory(prefix="bench-blas-") as tmp:
            for _ in range(repeats):
                for s in settings():
                    cps = run_once(s, seconds, corpus, Path(tmp) / s)
                    best[s] = max(best.get(s, 0.0), cps)
        return best
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="training time of each run")
    ap.add_argument("--repeats", type=int, default=1, help="runs per setting (the best is kept)")
    ap.add_argument("--corpus", default="shakespeare", choices=["shakespeare", "python", "c"])
    args = ap.parse_args(argv)

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"command: course charrnn train --model minchar-batched --corpus {args.corpus} --seconds {args.seconds:g}"
          f" (best of {args.repeats})\n")
    results = {cond: measure(args.seconds, args.repeats, args.corpus, busy=cond == "busy") for cond in ("quiet", "busy")}
    names = settings()
    print(f"{'COURSE_BLAS_THREADS':<21}" + "".join(f"{n:>12}" for n in names))
    ok = True
    for cond, r in results.items():
        print(f"{cond + ' chars/s':<21}" + "".join(f"{r[n]:>12,.0f}" for n in names))
        top = max(r.values())
        print(f"{cond + ' / best':<21}" + "".join(f"{r[n] / top:>12.2f}" for n in names))
        ok &= r["default"] / top >= 0.90
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("default within 10% of the best setting in both conditions:", ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
