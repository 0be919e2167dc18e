"""What the platform exports share: the course package the grader runs from, and the pinned requirements.

Both the Gradescope zip and the PrairieLearn image carry the *instructor's* ``course_utils`` (hidden
tests included: they grade there) without solutions, mutants or notebooks, plus ``requirements.txt`` (the
package's dependencies) and ``requirements/constraints.txt`` (their pinned versions). The course package is
not pip-installed on the platform: it runs from a root-only folder through ``PYTHONPATH``, so it is never
inside the Python installation that the sandbox shows student code.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from ..notebooks import COURSE_ROOT

__all__ = ["course_files", "requirements_txt", "TORCH_CPU_INDEX", "TORCH_PIN"]

TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_PIN = "torch==2.13.0"
_SKIP = {"__pycache__", ".ipynb_checkpoints", "_recorded", "gpu_check"}   # gpu_check: an instructor tool


def requirements_txt(root: Path = COURSE_ROOT) -> str:
    """The course package's dependencies (pyproject ``[project] dependencies``), one per line."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return "\n".join(project["dependencies"]) + "\n"


def course_files(root: Path = COURSE_ROOT) -> dict[str, bytes]:
    """``{path in the export: content}`` of the course package the grader runs from."""
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root / "course_utils"):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith((".pyc", ".bak")) or name == "STUDENT_EDITION.json":
                continue
            p = Path(dirpath) / name
            files[str(p.relative_to(root))] = p.read_bytes()
    files["requirements/constraints.txt"] = (root / "requirements" / "constraints.txt").read_bytes()
    files["requirements.txt"] = requirements_txt(root).encode()
    return files
