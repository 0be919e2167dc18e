"""What a student calls inside a lab notebook.

>>> check, submit = for_lab("03_rnn_basics")   # doctest: +SKIP
>>> check("q1")                                  # doctest: +SKIP

``check`` runs a question's public checks in the student's own kernel (they are for feedback;
grades come only from :func:`submit`, which grades the saved notebook in a sandbox).

:func:`student_id` (from :mod:`course_utils.grader.identity`) is the id ``course grade`` records a file
under; ``submit()`` records under the id of the person running it
(:func:`~course_utils.grader.identity.runner_id`).
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from .identity import STUDENT_ID_ENV, runner_id, student_id
from .registry import get_lab
from .spec import CheckFailed

__all__ = ["for_lab", "check_question", "student_id", "runner_id", "STUDENT_ID_ENV"]


def _user_namespace(depth: int = 2) -> Mapping[str, Any]:
    try:
        from IPython import get_ipython
        ip = get_ipython()
        if ip is not None:
            return ip.user_ns
    except ImportError:
        pass
    frame = inspect.stack()[depth].frame
    return frame.f_globals


def check_question(lab_id: str, qid: str, namespace: Mapping[str, Any]) -> bool:
    """Run the public check of ``qid``; print a friendly verdict; return whether it passed."""
    lab = get_lab(lab_id)
    q = lab.question(qid)
    missing = [n for n in q.names if n not in namespace]
    if missing:
        print(f"{qid} ({q.title}): define {', '.join(missing)} first (run the cell that defines it).")
        return False
    print(f"{qid} ({q.title}, {q.points:g} point{'s' if q.points != 1 else ''}): running public checks")
    try:
        q.public_check(namespace)
    except NotImplementedError:
        # let it propagate: the traceback points at the stub, and "Run All" stops there
        print(f"{qid}: not implemented yet -- replace 'raise NotImplementedError' with your code.")
        raise
    except CheckFailed as exc:
        print(f"{qid}: FAILED -- {exc}")
        return False
    except Exception as exc:  # the student's code raised: show where, briefly
        tb = traceback.extract_tb(exc.__traceback__)
        where = next((f"line {f.lineno} of {f.name}" for f in reversed(tb) if f.filename.startswith("<ipython")), "")
        print(f"{qid}: your code raised {type(exc).__name__}: {exc}" + (f" ({where})" if where else ""))
        return False
    print(f"{qid}: public checks passed. The autograder also runs hidden tests on fresh inputs.")
    return True


def for_lab(lab_id: str) -> tuple[Callable[[str], bool], Callable[..., Any]]:
    """Return ``(check, submit)`` bound to one lab."""
    get_lab(lab_id)  # fail early on a typo

    def check(qid: str) -> None:
        check_question(lab_id, qid, _user_namespace())

    def submit(path: str | None = None, student: str | None = None) -> None:
        from .submit import submit_notebook   # one arrow, student -> submit (submit needs nothing from here)
        submit_notebook(lab_id, path=path, student=student)  # shows the report inline

    check.__doc__ = f"Run the public checks of a question of lab {lab_id}, e.g. check('q1')."
    submit.__doc__ = f"Grade the saved lab {lab_id} notebook in the sandbox and show the report."
    return check, submit
