"""The course autograder: question specs, public checks, sandboxed grading and the gradebook."""

from .spec import Case, CheckFailed, LabSpec, Question, compare_close, expect_close, rel_error
from .student import for_lab

__all__ = ["Case", "CheckFailed", "LabSpec", "Question", "compare_close", "expect_close", "rel_error", "for_lab"]
