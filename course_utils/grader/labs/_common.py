"""Helpers shared by the lab specs: named outputs in hidden-test messages, and reference code that
the sandbox binds in place of an earlier answer (see :attr:`course_utils.grader.spec.Case.provide`).

A question whose function is meant to call an earlier question's function (``rnn_forward`` calls
``rnn_step_forward``) is graded with the *reference* bound under the earlier name, so a bug in the
earlier answer costs points once, on the earlier question. The reference sources below are written
against the students' interface (plain arrays in, plain arrays out, NumPy only); the unit tests
check them against :mod:`course_utils.rnn`, :mod:`course_utils.lstm` and :mod:`course_utils.charrnn`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..spec import Case, compare_close

__all__ = ["named_compare", "REFERENCE_SOURCES", "provide", "EARLIER_NOTE", "blame_earlier", "paired", "judge_pairs"]


def named_compare(names: Sequence[str], tol: float) -> Callable[[Any, Any, Case], tuple[bool, str]]:
    """A ``Question.compare`` for a function returning a tuple: messages name each output
    (``dby: relative error ...``) as the public checks do, instead of ``output[5]``."""
    names = tuple(names)

    def compare(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
        if not isinstance(got, (tuple, list)) or len(got) != len(names):
            what = "another number of values" if isinstance(got, (tuple, list)) else type(got).__name__
            return False, f"expected a tuple of {len(names)} values ({', '.join(names)}), got {what}"
        for name, g, e in zip(names, got, expected):
            ok, msg = compare_close(g, e, tol, path=name)
            if not ok:
                return False, msg
        return True, "ok"
    return compare


EARLIER_NOTE = ("(graded with the reference {earlier} in place of yours, so only this function's own "
                "code counts here)")

#: Reference implementations in the students' interface, as source code run inside the sandbox.
REFERENCE_SOURCES: dict[str, str] = {
    "rnn_step_forward": '''
import numpy as np

def rnn_step_forward(x, prev_h, Wx, Wh, b):
    return np.tanh(x @ Wx + prev_h @ Wh + b)
''',
    "rnn_forward": '''
import numpy as np

def rnn_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    h = np.zeros((N, T, h0.shape[1]))
    prev = h0
    for t in range(T):
        prev = np.tanh(x[:, t] @ Wx + prev @ Wh + b)
        h[:, t] = prev
    return h
''',
    "rnn_backward": '''
import numpy as np

def rnn_backward(dh, x, h0, Wx, Wh, h):
    N, T, H = dh.shape
    dx = np.zeros(x.shape)
    dWx, dWh, db = np.zeros(Wx.shape), np.zeros(Wh.shape), np.zeros(H)
    dnext = np.zeros((N, H))
    for t in reversed(range(T)):
        prev = h[:, t - 1] if t > 0 else h0
        da = (dh[:, t] + dnext) * (1 - h[:, t] ** 2)
        dx[:, t] = da @ Wx.T
        dWx += x[:, t].T @ da
        dWh += prev.T @ da
        db += da.sum(axis=0)
        dnext = da @ Wh.T
    return dx, dnext, dWx, dWh, db
''',
    "lstm_step_forward": '''
import numpy as np

def _sigmoid(a):
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e))

def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H])
    g, o = np.tanh(a[:, 2 * H:3 * H]), _sigmoid(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    return o * np.tanh(next_c), next_c
''',
}


def provide(*names: str) -> tuple[tuple[str, str], ...]:
    """``Case.provide`` pairs binding the reference of each named earlier answer."""
    return tuple((n, REFERENCE_SOURCES[n]) for n in names)


def blame_earlier(ns: Any, earlier: str, qid: str, check: Callable[[Any], None]) -> None:
    """In a public check: say so when the earlier question's function (``earlier``, question ``qid``)
    does not pass its own public ``check`` yet, since a failure that follows may come from it."""
    import contextlib
    import io
    if earlier not in ns:
        return
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            check(ns)
    except Exception:
        print(f"  note: your {earlier} ({qid}) does not pass its own check yet; a failure below may come from it. "
              f"(The hidden tests of this question use the reference {earlier}, so {qid}'s mistake is not charged twice.)")


CALLS_SOURCE = '''
def grader_calls(func, calls):
    """The student's ``func`` called once per kwargs dict of ``calls``; the answers, in order."""
    return [student_namespace[func](**kwargs) for kwargs in calls]
'''


def paired(edge: Case, other: Case) -> Case:
    """One hidden test made of two calls of the same function: an edge case that a trivial answer (a constant,
    zeros) would pass by itself, and an ordinary case. It passes only when both answers are right, so no
    trivial answer earns the edge case's credit. Judge it with :func:`judge_pairs`."""
    assert edge.func == other.func and not (edge.returns_kwargs or edge.shared or edge.provide or edge.seed)
    return Case("grader_calls", {"func": edge.func, "calls": [edge.kwargs, other.kwargs]},
                label=f"{edge.label} (with {other.label})", provide=(("grader_calls", CALLS_SOURCE),))


def judge_pairs(reference: Callable[[Case], Any], compare: Callable[[Any, Any, Case], tuple[bool, str]] | None = None,
                tol: float = 1e-6) -> tuple[Callable[[Case], Any], Callable[[Any, Any, Case], tuple[bool, str]]]:
    """``(reference, compare)`` for a question whose cases may be :func:`paired`."""
    judge = compare or (lambda got, expected, case: compare_close(got, expected, tol))

    def subcases(case: Case) -> list[Case]:
        return [Case(case.kwargs["func"], kw) for kw in case.kwargs["calls"]]

    def ref(case: Case) -> Any:
        if case.func == "grader_calls":
            return [reference(c) for c in subcases(case)]
        return reference(case)

    def cmp(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
        if case.func != "grader_calls":
            return judge(got, expected, case)
        if not isinstance(got, list) or len(got) != len(expected):
            return False, "unexpected result"
        for i, (g, e, c) in enumerate(zip(got, expected, subcases(case))):
            ok, msg = judge(g, e, c)
            if not ok:
                return False, f"call {i + 1} of {len(expected)}: {msg}"
        return True, "ok"
    return ref, cmp


def same_as_sent(after: Any, sent: Any) -> bool:
    """Whether an argument came back exactly as the grader sent it (structure, shapes and values bit for bit)."""
    import numpy as np
    if isinstance(sent, np.ndarray):
        if not isinstance(after, np.ndarray) or after.shape != sent.shape or after.dtype.kind not in "biuf":
            return False
        return bool(np.array_equal(after.astype(np.float64), sent.astype(np.float64), equal_nan=True))
    if isinstance(sent, dict):
        return isinstance(after, dict) and set(after) == set(sent) and all(same_as_sent(after[k], sent[k]) for k in sent)
    if isinstance(sent, (list, tuple)):
        return isinstance(after, (list, tuple)) and len(after) == len(sent) and all(map(same_as_sent, after, sent))
    return type(after) is type(sent) and after == sent


def changed_inputs(got: Any, case: Case) -> list[str]:
    """Arguments the student's function changed in place: those of ``case.returns_kwargs`` that did not come back
    (``got`` is ``(value, {name: argument after the call})``) exactly as sent. Empty when the case sends none back."""
    if not case.returns_kwargs:
        return []
    after = got[1] if isinstance(got, tuple) and len(got) == 2 and isinstance(got[1], dict) else {}
    return [name for name in case.returns_kwargs if not same_as_sent(after.get(name), case.kwargs[name])]
