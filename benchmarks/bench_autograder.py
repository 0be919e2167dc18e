"""Gradescope fit: each lab's autograder run on its solution under 768 MB and half a CPU (cgroup), as on
Gradescope's default machine. Prints, per lab, the score, the wall time of run_autograder and the cgroup's
peak memory. Needs root and cgroups (v2 with memory+cpu, or v1).

    .venv/bin/python benchmarks/bench_autograder.py [LAB ...]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from course_utils.delivery.gradescope import build_zip
from course_utils.delivery.limits import cgroup_mode, run_measured
from course_utils.grader.registry import lab_ids

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    mode = cgroup_mode()
    if mode is None:
        print("no usable cgroup here (root and cgroup v1/v2 needed)")
        return 2
    labs = sys.argv[1:] or lab_ids()
    print(f"{'lab':<24} {'score':>9} {'seconds':>8} {'peak MB':>8}   ({mode}, 768 MB, 0.5 CPU)")
    for lab in labs:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            build_zip(lab, base / "a.zip")
            with zipfile.ZipFile(base / "a.zip") as z:
                z.extractall(base / "source")
            env = dict(os.environ, COURSE_AUTOGRADER_ROOT=str(base), COURSE_AUTOGRADER_USE_PYTHON=sys.executable)
            subprocess.run(["bash", str(base / "source" / "setup.sh")], env=env, check=True, capture_output=True)
            (base / "submission").mkdir()
            shutil.copy(ROOT / "solutions" / f"{lab}_lab.ipynb", base / "submission" / "lab.ipynb")
            m = run_measured(["bash", str(base / "source" / "run_autograder")], memory_bytes=768 * 2**20,
                             cpu_fraction=0.5, timeout_s=900,
                             env={"PATH": os.environ["PATH"], "COURSE_AUTOGRADER_ROOT": str(base), "HOME": tmp})
            r = json.loads((base / "results" / "results.json").read_text())
            total = sum(t["max_score"] for t in r.get("tests", []))
            print(f"{lab:<24} {r['score']:>4g}/{total:<4g} {m.seconds:>8.1f} {m.peak_bytes / 2**20:>8.0f}"
                  + (f"  OOM kills: {m.oom_kills}" if m.oom_kills else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
