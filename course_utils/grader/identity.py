"""Who a grading is recorded under: one rule for ``submit()`` and ``course grade``.

* :func:`runner_id` -- the person running the code: ``$COURSE_STUDENT_ID`` when set, else the login name.
  ``submit()`` records only under this id.
* :func:`student_id` -- what ``course grade FILE`` records a single file under: ``$COURSE_STUDENT_ID``, else the
  file's name when it is not the lab's own (``alice.ipynb`` -> ``alice``), else the login name.

Either way the id must pass :func:`~course_utils.grader.safety.check_student_id` before it names a
gradebook row or a report file.
"""

from __future__ import annotations

import getpass
import os
import re
from pathlib import Path

__all__ = ["STUDENT_ID_ENV", "runner_id", "student_id"]

STUDENT_ID_ENV = "COURSE_STUDENT_ID"
_LAB_FILE = re.compile(r"^\d\d_\w+_lab\b")       # 03_rnn_basics_lab, 03_rnn_basics_lab-Copy1 ...


def runner_id() -> str:
    """The id of the person running this process: ``$COURSE_STUDENT_ID`` (stripped) when set, else the login
    name (``getpass.getuser()``), or ``"student"`` where there is none. Not yet checked for safety."""
    env = os.environ.get(STUDENT_ID_ENV, "").strip()
    if env:
        return env
    try:
        return getpass.getuser()
    except (KeyError, OSError):          # no login name for this uid (some containers)
        return "student"


def student_id(path: str | os.PathLike[str] | None = None) -> str:
    """The student id a grading of ``path`` is recorded under by ``course grade`` (see the module docstring).

    1. ``$COURSE_STUDENT_ID`` when set (and not blank);
    2. the file's stem, when ``path`` is given and is not named after the lab (``submissions/alice.ipynb``);
    3. the login name, or ``"student"`` where there is none.
    An explicit ``--student`` overrides all of these.
    """
    if os.environ.get(STUDENT_ID_ENV, "").strip():
        return runner_id()
    if path is not None:
        stem = Path(path).stem
        if stem and not _LAB_FILE.match(stem):
            return stem
    return runner_id()
