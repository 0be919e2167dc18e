"""Execute every lecture and solution notebook headless and print how long each takes.

    .venv/bin/python benchmarks/notebook_times.py [--first-run] [NOTEBOOK ...]

Nothing is saved; the course budget is about a minute per notebook (three for heavy training) on 2 CPU cores.
``--first-run`` times what a fresh clone sees: an empty data cache (``COURSE_DATA_DIR`` in a temporary folder)
holding only tinyshakespeare, copied from the current cache, as ``course data add`` would register it. Anything a
notebook would otherwise compute once and cache (features, trained models) is then computed inside the timing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from course_utils.notebooks import execute_notebook

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--first-run", action="store_true", help="start from an empty data cache (a fresh clone)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted([*ROOT.glob("lectures/*.ipynb"), *ROOT.glob("solutions/*.ipynb")])
    tmp = None
    if args.first_run:
        from course_utils.data import cache_dir
        from course_utils.data.corpora import corpus_path
        shakespeare = corpus_path("shakespeare")
        tmp = tempfile.mkdtemp(prefix="course-first-run-")
        if shakespeare.exists():
            shutil.copy(shakespeare, Path(tmp) / shakespeare.name)
        os.environ["COURSE_DATA_DIR"] = tmp              # inherited by each notebook's kernel
        print(f"first run: data cache {cache_dir()} holds only {shakespeare.name}")
    print(f"{'notebook':45s} {'seconds':>8s}")
    total = 0.0
    try:
        for nb in notebooks:
            _, seconds = execute_notebook(nb, save=False)
            total += seconds
            print(f"{str(nb.relative_to(ROOT) if nb.is_absolute() else nb):45s} {seconds:8.1f}", flush=True)
        print(f"{'total':45s} {total:8.1f}")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
