"""Execute every lecture and solution notebook headless and print how long each takes.

    .venv/bin/python benchmarks/notebook_times.py [NOTEBOOK ...]

Nothing is saved; the course budget is about a minute per notebook (three for heavy training)
on 2 CPU cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

from course_utils.notebooks import execute_notebook

ROOT = Path(__file__).resolve().parents[1]


def main(paths: list[str]) -> None:
    notebooks = [Path(p) for p in paths] or sorted([*ROOT.glob("lectures/*.ipynb"), *ROOT.glob("solutions/*.ipynb")])
    print(f"{'notebook':45s} {'seconds':>8s}")
    total = 0.0
    for nb in notebooks:
        _, seconds = execute_notebook(nb, save=False)
        total += seconds
        print(f"{str(nb.relative_to(ROOT) if nb.is_absolute() else nb):45s} {seconds:8.1f}", flush=True)
    print(f"{'total':45s} {total:8.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
