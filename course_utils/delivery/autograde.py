"""Grade the one notebook of a platform's submission folder with the course grader.

Used by the Gradescope and PrairieLearn runners (:mod:`.platform_run`). Whatever the folder holds,
:func:`grade_folder` returns an :class:`Outcome`: a :class:`~course_utils.grader.grade.GradeResult`, or
a ``problem`` that says what is wrong and how to fix it (no notebook, several, another lab's, a file that
is not a notebook) -- it never raises for a submission.

The submission is copied into a private folder under the lab's own file name before grading, so a
notebook uploaded as ``alice.ipynb`` is graded as the lab it was assigned for (a notebook whose
``course.lab`` metadata names another lab is still refused).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..grader.grade import GradeResult, SubmissionError, grade_notebook
from ..grader.registry import get_lab
from ..grader.safety import clean_text
from ..grader.sandbox import SandboxError, SandboxLimits

__all__ = ["Outcome", "find_notebooks", "grade_folder", "limits_for_memory"]

_MAX_ENTRIES = 10_000


@dataclass
class Outcome:
    """What grading a submission folder gave. ``kind``: graded, no_submission, several, refused, machine."""
    lab_id: str
    lab_title: str
    max_points: float
    kind: str
    result: GradeResult | None = None
    problem: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def find_notebooks(folder: Path) -> tuple[list[Path], list[str]]:
    """``.ipynb`` files in ``folder`` (sub-folders too, checkpoints and macOS metadata skipped), and the names
    of the other files (for the message when there is no notebook)."""
    notebooks, others = [], []
    count = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in (".ipynb_checkpoints", "__MACOSX") and not d.startswith("."))
        for name in sorted(filenames):
            count += 1
            if count > _MAX_ENTRIES:
                return notebooks, others
            p = Path(dirpath) / name
            if name.startswith("._"):
                continue
            (notebooks if name.lower().endswith(".ipynb") else others).append(p)
    return notebooks, [str(p.relative_to(folder)) for p in others]


def limits_for_memory(total_mb: float | None) -> SandboxLimits:
    """Sandbox limits for a machine of ``total_mb`` MB (the platform's container): the student's processes
    together get what the grader process leaves, so the sandbox is stopped by the grader's watch -- with a
    message -- before the container's OOM killer acts."""
    if not total_mb:
        return SandboxLimits()
    sandbox = max(160, int(total_mb) - 330) * 2**20       # measured: the grader process and its helpers ~ 250 MB
    return SandboxLimits(total_memory_bytes=sandbox, memory_bytes=min(2 * 1024**3, sandbox + 512 * 2**20))


def grade_folder(folder: str | os.PathLike[str], lab_id: str, *, budget_s: float | None = None,
                 limits: SandboxLimits | None = None, seed: int | None = None) -> Outcome:
    """Grade the notebook submitted in ``folder`` as lab ``lab_id`` (see the module docstring)."""
    t0 = time.perf_counter()
    lab = get_lab(lab_id)
    out = Outcome(lab.lab_id, lab.title, lab.max_points, "graded")
    expected = f"{lab.lab_id}_lab.ipynb"
    folder = Path(folder)
    try:
        notebooks, others = find_notebooks(folder) if folder.is_dir() else ([], [])
        if not notebooks:
            seen = f" (received: {', '.join(clean_text(o, 80, numbers=False) for o in others[:8])})" if others else ""
            out.kind = "no_submission"
            out.problem = (f"No Jupyter notebook (.ipynb) was found in your submission{seen}. Upload your saved lab "
                           f"notebook, {expected} (in JupyterLab: File > Download), and submit again.")
            return out
        chosen = notebooks[0]
        if len(notebooks) > 1:
            named = [p for p in notebooks if p.name == expected]
            names = ", ".join(clean_text(p.relative_to(folder), 80, numbers=False) for p in notebooks[:8])
            if len(named) != 1:
                out.kind = "several"
                out.problem = (f"Your submission holds {len(notebooks)} notebooks ({names}); it must hold one. Submit "
                               f"only your lab notebook, {expected}.")
                return out
            chosen = named[0]
            out.notes.append(f"Graded {expected}; the other notebooks of the submission were ignored ({names}).")
        with tempfile.TemporaryDirectory(prefix="course-submission-") as tmp:
            os.chmod(tmp, 0o700)
            copy = Path(tmp) / expected
            try:
                with open(chosen, "rb") as src, open(copy, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except OSError as exc:
                out.kind = "refused"
                out.problem = f"Your file {chosen.name} could not be read ({exc.strerror or exc}); upload it again."
                return out
            try:
                out.result = grade_notebook(copy, student="submission", expect_lab=lab.lab_id, seed=seed,
                                            limits=limits, budget_s=budget_s)
            except SubmissionError as exc:
                out.kind = "refused"
                message = str(exc).replace(str(copy), clean_text(chosen.name, 100, numbers=False))
                out.problem = f"Your submission could not be graded: {message}"
            except SandboxError as exc:
                out.kind = "machine"
                out.problem = ("The grading machine could not start the sandbox that runs your code; this is not "
                               f"your fault. Submit again later or tell your instructor ({clean_text(exc, 300)}).")
    finally:
        out.seconds = time.perf_counter() - t0
    return out
