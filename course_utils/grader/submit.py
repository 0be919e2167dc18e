"""``submit()`` in a lab notebook: grade the *saved* notebook exactly as ``course grade`` does.

The notebook file is found from, in order: the ``path`` argument; the ``__session__`` variable
(or the ``JPY_SESSION_NAME`` environment variable) that JupyterLab gives the kernel; then
``workspace/labs/<lab>_lab.ipynb`` (the student's copy, see :mod:`course_utils.workspace`) and
``labs/<lab>_lab.ipynb`` in the course folder. The report is displayed inline (HTML in Jupyter,
text elsewhere) and the attempt is recorded in the default gradebook, like ``course grade``, under
the id of the person running it (:func:`~course_utils.grader.identity.runner_id`: ``$COURSE_STUDENT_ID``,
else the login name), checked by the same rule as ``course grade``
(:func:`~course_utils.grader.safety.check_student_id`). An explicit ``student=`` that is not that id is
refused: nobody can record an attempt in someone else's row.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from ..notebooks import COURSE_ROOT
from .grade import GradeResult, SubmissionError, grade_notebook
from .identity import STUDENT_ID_ENV, runner_id
from .registry import get_lab
from .safety import StudentIdError, check_student_id, clean_text

__all__ = ["find_notebook", "submit_notebook"]


def _session_name() -> str | None:
    try:
        from IPython import get_ipython
        ip = get_ipython()
        if ip is not None and isinstance(ip.user_ns.get("__session__"), str):
            return ip.user_ns["__session__"]
    except ImportError:
        pass
    return os.environ.get("JPY_SESSION_NAME") or None


def find_notebook(lab_id: str, path: str | os.PathLike[str] | None = None) -> Path:
    """The saved notebook to grade (see the module docstring); ``FileNotFoundError`` says where it looked."""
    lab_id = get_lab(lab_id).lab_id
    tried: list[Path] = []
    candidates: list[Path] = []
    if path is not None:
        candidates.append(Path(path))
    else:
        session = _session_name()
        if session:
            p = Path(session)
            candidates += [p] if p.is_absolute() else [Path.cwd() / p, COURSE_ROOT / p, Path.cwd() / p.name]
        from ..workspace import workspace_dir
        candidates += [workspace_dir() / "labs" / f"{lab_id}_lab.ipynb", COURSE_ROOT / "labs" / f"{lab_id}_lab.ipynb"]
    for c in candidates:
        tried.append(c)
        if c.is_file() and c.suffix == ".ipynb":
            return c
    raise FileNotFoundError("could not find your saved lab notebook (looked at " + ", ".join(map(str, tried)) +
                            "); call submit(path='path/to/your_lab.ipynb')")


def submit_notebook(lab_id: str, path: str | os.PathLike[str] | None = None, student: str | None = None,
                    *, show: bool = True, record: bool = True) -> GradeResult | None:
    """Grade the saved notebook of ``lab_id`` in the sandbox, show the report, record it; return the result.

    Returns ``None`` (after printing what is wrong) when the file cannot be graded.
    """
    from .gradebook import Gradebook, default_gradebook_path
    from .report import to_html, to_text
    me = runner_id()
    try:
        check_student_id(me)
    except StudentIdError as exc:
        print(f"submit: your id comes from ${STUDENT_ID_ENV} or your login name, and {exc}; "
              f"set {STUDENT_ID_ENV} to your student id")
        return None
    if student is not None and student != me:
        shown = clean_text(student, 60, numbers=False)
        print(f"submit: student={shown!r} is not you: submissions are recorded under the id of the person running "
              f"them ({me!r}, from ${STUDENT_ID_ENV} or your login name); call submit() without student=")
        return None
    try:
        nb_path = find_notebook(lab_id, path)
    except FileNotFoundError as exc:
        print(f"submit: {exc}")
        return None
    saved = datetime.fromtimestamp(nb_path.stat().st_mtime).strftime("%H:%M:%S")
    print(f"Grading the saved file {nb_path} (last saved at {saved}); save (Ctrl+S) first if you changed it.")
    from ..delivery.exchange import drop_if_configured   # on a hub: hand in to $COURSE_EXCHANGE_DIR, if set
    handed_in = drop_if_configured(nb_path, lab_id)
    if handed_in:
        print(handed_in)
    gb_path = default_gradebook_path()
    try:
        result = grade_notebook(nb_path, student=me, expect_lab=lab_id,
                                private_paths=(str(gb_path.resolve().parent),))
    except SubmissionError as exc:
        print(f"submit: {exc}")
        return None
    if record:
        try:
            Gradebook(gb_path).record(result)
        except (OSError, sqlite3.Error) as exc:  # a read-only course folder must not hide the report
            result.notes.append(f"not recorded in the gradebook {gb_path}: {exc}")
    if show:
        _display(result, to_html, to_text)
    return result


def _display(result: GradeResult, to_html: Any, to_text: Any) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
        if get_ipython() is not None:
            display(HTML(to_html(result)))
            return
    except ImportError:
        pass
    print(to_text(result))
