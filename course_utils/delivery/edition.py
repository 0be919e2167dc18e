"""Which edition of the course this is, and what grading means in the student edition.

``course release`` writes :data:`MARKER` into the student edition's ``course_utils/delivery/``; its lab
specs bind every question's hidden tests to :func:`withheld`, so ``submit()`` and ``course grade`` there
say where to hand the notebook in instead of grading (the hidden tests run on the course's platform).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

from ..grader.grade import SubmissionError

__all__ = ["MARKER", "HiddenTestsWithheld", "withheld", "is_student_edition", "edition_info"]

MARKER = Path(__file__).with_name("STUDENT_EDITION.json")


class HiddenTestsWithheld(SubmissionError):
    """Grading was asked of the student edition, which has the public checks only."""


def withheld(*args: Any, **kwargs: Any) -> NoReturn:
    """Stands for a question's hidden tests and reference in the student edition."""
    raise HiddenTestsWithheld(
        "this is the student edition of the course: the hidden tests are not part of it. Run check('q1') ... for the "
        "public checks, then hand in your saved notebook where your instructor says (Gradescope, PrairieLearn or "
        "the course's exchange), where it is graded")


def edition_info() -> dict[str, Any] | None:
    """The marker's content (source commit, date) in a student edition, else None."""
    try:
        return json.loads(MARKER.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_student_edition() -> bool:
    return MARKER.exists()
