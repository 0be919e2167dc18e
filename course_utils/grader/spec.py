"""How a lab's questions are declared -- once, in ``course_utils/grader/labs/labNN_*.py``.

A :class:`LabSpec` lists :class:`Question` objects. Each question names the functions the student
defines, a *public check* (runs in the student's own kernel through ``check("q1")``, on fixed tiny
inputs, with friendly messages) and *hidden tests*: :meth:`Question.make_cases` draws fresh inputs
from a generator seeded at grading time, the sandbox calls the student's function on them and sends
back plain data, and the trusted grader compares that data with :meth:`Question.reference`.

Values that cross the sandbox boundary ("plain data"): ``np.ndarray`` (numeric or bool), ``int``,
``float``, ``bool``, ``str``, ``None``, and ``tuple``/``list``/``dict[str, ...]`` of those.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


import numpy as np

from ..numerics import rel_error

__all__ = ["Case", "Question", "LabSpec", "CheckFailed", "rel_error", "compare_close", "expect_close", "magnitude"]


class CheckFailed(AssertionError):
    """A public check failed; the message tells the student what to look at."""


@dataclass(frozen=True)
class Case:
    """One hidden-test call: ``func(**kwargs)`` evaluated in the student's namespace.

    - func: the name of the student's function to call
    - kwargs: plain data (see module docstring)
    - seed: when set, ``np.random.seed(seed)`` and ``torch.manual_seed(seed)`` run just before the call
    - returns_kwargs: names of kwargs whose values *after* the call are also returned
      (for functions that update arrays in place, e.g. an optimiser step)
    - label: a short description shown in feedback (never the inputs themselves)
    - provide: ``(name, source)`` pairs of trusted code (NumPy only) that the sandbox runs, for this
      call only, in a namespace of its own and binds as ``name`` in the student's namespace, restoring
      it afterwards. A later question that calls an earlier answer is graded with the reference in its
      place (so one bug is charged once); the code can also be a probe that calls the student's
      function (found in ``student_namespace``) and reports what it observed. What such a probe reports is
      forgeable (it shares the student's process): judge only values that take the work to produce.
    - shared: names of kwargs (arrays, or dicts of arrays) handed to the function in memory that the grader
      reads back *itself* after the call; the judge gets ``(return value, {name: what that memory holds})``.
      Evidence of in-place updates (or of restoring an input) that no code in the sandbox can rewrite.
    """
    func: str
    kwargs: dict[str, Any]
    seed: int | None = None
    returns_kwargs: tuple[str, ...] = ()
    label: str = ""
    provide: tuple[tuple[str, str], ...] = ()
    shared: tuple[str, ...] = ()


def _describe(v: Any, answer: bool = False) -> str:
    """The kind of a value; for an answer (``answer=True``) no shape: a shape could encode a hidden input."""
    if isinstance(v, np.ndarray):
        return f"an array of dtype {v.dtype}" if answer else f"array of shape {v.shape} and dtype {v.dtype}"
    return type(v).__name__


def _numeric_list(got: list | tuple) -> Any:
    """``got`` as an array when it is a (nested) list of plain numbers of one rectangular shape, else unchanged."""
    try:
        arr = np.asarray(got)
    except (ValueError, TypeError, OverflowError):
        return got
    return arr if arr.dtype.kind in "biuf" and arr.dtype.itemsize <= 8 else got


def magnitude(err: float) -> str:
    """A relative error as a power of ten (``about 1e-03``): feedback that says how far off an answer is
    without carrying a value an answer could have been built to encode."""
    if not np.isfinite(err) or err > 1e20:
        return "far above 1"
    exp = int(np.clip(np.round(np.log10(max(float(err), 1e-30))), -30, 20))
    return f"about 1e{exp:+03d}"


def compare_close(got: Any, expected: Any, tol: float = 1e-6, path: str = "output") -> tuple[bool, str]:
    """Compare nested plain data: same structure, shapes, finite values, relative error <= tol.

    Returns ``(ok, message)``; the message names the first mismatch without revealing expected values.
    """
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            n = len(got) if isinstance(got, (tuple, list)) else None
            return False, (f"{path}: expected a tuple of {len(expected)} values, got "
                           f"{_describe(got, True) if n is None else 'another number of values'}")
        for i, (g, e) in enumerate(zip(got, expected)):
            ok, msg = compare_close(g, e, tol, f"{path}[{i}]")
            if not ok:
                return False, msg
        return True, "ok"
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            what = "other keys" if isinstance(got, dict) else _describe(got, True)
            return False, f"{path}: expected a dict with keys {sorted(expected)}, got {what}"
        for k in sorted(expected):
            ok, msg = compare_close(got[k], expected[k], tol, f"{path}[{k!r}]")
            if not ok:
                return False, msg
        return True, "ok"
    if isinstance(expected, str) or expected is None:
        return (got == expected and type(got) is type(expected)), f"{path}: wrong value"
    if isinstance(got, bool) != isinstance(expected, (bool, np.bool_)):
        return False, f"{path}: expected {_describe(expected)}, got {_describe(got, True)}"
    if isinstance(got, (list, tuple)) and isinstance(expected, np.ndarray) and expected.ndim > 0:
        got = _numeric_list(got)           # a list of numbers where an array is expected: judge its values
    if not isinstance(got, (np.ndarray, int, float, np.number)):
        return False, f"{path}: expected {_describe(expected)}, got {_describe(got, True)}"
    g = np.asarray(got)
    e = np.asarray(expected)
    if g.shape != e.shape:
        return False, f"{path}: expected shape {e.shape}, got an array of another shape"
    if g.dtype.kind not in "biuf" or g.dtype.itemsize > 8:
        return False, f"{path}: expected numbers, got dtype {g.dtype}"
    with np.errstate(all="ignore"):
        finite = bool(np.all(np.isfinite(g.astype(np.float64))))   # as the error below sees it (no long double)
    if not finite:
        return False, f"{path}: contains NaN or inf"
    err = rel_error(g, e)
    if not err <= tol and tol == 0 and e.dtype.kind in "biu":   # exact integers (ids, indices, counts): say how many differ
        return False, (f"{path}: some of its {e.size} entries differ" if e.ndim else f"{path}: wrong value")
    if not err <= tol:                      # "not <=": a NaN error fails
        return False, f"{path}: relative error {magnitude(err)} exceeds the tolerance {tol:.0e}"
    return True, f"relative error {magnitude(err)}"


def expect_close(name: str, got: Any, expected: Any, tol: float = 1e-6, verbose: bool = True) -> float:
    """Public-check helper: compare, print the relative error against ``tol``, raise :class:`CheckFailed`.

    Unlike the hidden tests, public checks may say what was expected (shape and dtype).
    """
    e = np.asarray(expected)
    if got is None:
        raise CheckFailed(f"{name}: got None -- did you forget to return a value?")
    try:
        g = np.asarray(got, dtype=np.float64) if not isinstance(got, np.ndarray) else got
    except (TypeError, ValueError):
        raise CheckFailed(f"{name}: expected an array of shape {e.shape}, got {type(got).__name__}") from None
    if g.shape != e.shape:
        raise CheckFailed(f"{name}: expected shape {e.shape}, got {g.shape}")
    if g.dtype.kind not in "biuf":
        raise CheckFailed(f"{name}: expected a numeric array, got dtype {g.dtype}")
    if not np.all(np.isfinite(g)):
        raise CheckFailed(f"{name}: contains NaN or inf")
    err = rel_error(g, e)
    if verbose:
        shown = "< 1e-12" if err < 1e-12 else f"{err:.1e}"  # stable text for tiny round-off differences
        print(f"  {name}: relative error {shown} (tolerance {tol:.0e}) {'ok' if err <= tol else 'TOO LARGE'}")
    if not err <= tol:
        raise CheckFailed(f"{name}: relative error {err:.2e} is above the tolerance {tol:.0e}")
    return err


@dataclass(frozen=True)
class Question:
    """One graded question of a lab.

    - id: ``"q1"``, ``"q2"``, ... (unique within the lab)
    - title: one line shown in feedback
    - points: maximum score
    - names: the names the student's notebook must define (functions or classes)
    - public_check: ``f(namespace) -> None``; runs in the student's kernel, prints progress,
      raises :class:`CheckFailed` with a helpful message
    - make_cases: ``f(rng) -> list[Case]``; hidden inputs drawn from the grading seed, edge cases included
    - reference: ``f(case) -> expected plain data``; runs only in the trusted grader
    - compare: ``f(got, expected, case) -> (ok, message)``; default :func:`compare_close` with ``tol``
    - timeout_s: wall-clock limit for all this question's calls in the sandbox
    - then: a second stage run in a *fresh* sandbox process (nothing of the first stage survives there):
      ``f(case, first answer) -> Case | None``; the judge then gets ``(first answer, second answer)``
      (None for the second when the first gave nothing to continue with). E.g. a checkpoint saved in one
      process is loaded in another, so a loader that remembers instead of reading files gets nothing.
    """
    id: str
    title: str
    points: float
    names: tuple[str, ...]
    public_check: Callable[[Mapping[str, Any]], None]
    make_cases: Callable[[np.random.Generator], Sequence[Case]]
    reference: Callable[[Case], Any]
    tol: float = 1e-6
    compare: Callable[[Any, Any, Case], tuple[bool, str]] | None = None
    timeout_s: float = 20.0
    then: Callable[[Case, Any], Case | None] | None = None

    def judge(self, got: Any, expected: Any, case: Case) -> tuple[bool, str]:
        if self.compare is not None:
            return self.compare(got, expected, case)
        return compare_close(got, expected, self.tol)


@dataclass(frozen=True)
class LabSpec:
    """All questions of one lab; ``lab_id`` matches the notebook's name (``03_rnn_basics``)."""
    lab_id: str
    title: str
    questions: tuple[Question, ...] = field(default_factory=tuple)

    @property
    def max_points(self) -> float:
        return float(sum(q.points for q in self.questions))

    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(f"lab {self.lab_id} has no question {qid!r}; its questions are "
                       f"{[q.id for q in self.questions]}")
