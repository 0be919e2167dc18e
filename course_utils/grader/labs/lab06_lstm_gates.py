"""Lab 6 -- LSTM gates: questions, public checks and hidden tests.

Row-vector convention with PyTorch's gate order (see :mod:`course_utils.lstm`):
``a = x Wx + h Wh + b``, blocks i, f, g, o of H columns each. The student writes NumPy functions
that return plain arrays (no caches):

* q1 ``lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b) -> (next_h, next_c)``
* q2 ``lstm_forward(x, h0, Wx, Wh, b) -> h``                           (N, T, H), c0 = 0
* q3 ``lstm_step_backward(dnext_h, dnext_c, x, prev_h, prev_c, Wx, Wh, b)
  -> (dx, dprev_h, dprev_c, dWx, dWh, db)``
* q4 ``gru_step_forward(x, prev_h, Wx, Wh, bx, bh) -> next_h``          (gate order r, z, n)

q2 is graded with the reference ``lstm_step_forward`` bound in place of the student's: a bug in the
step is charged once, on q1; q2's public check says when q1 is the cause of a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ... import lstm
from ..spec import Case, CheckFailed, LabSpec, Question, expect_close
from ._common import blame_earlier, named_compare, provide

LAB_ID = "06_lstm_gates"


# ---------------------------------------------------------------- inputs

def _tiny(N: int, D: int, H: int, k: int = 4, T: int | None = None) -> dict[str, np.ndarray]:
    """Fixed cs231n-style inputs (evenly spaced values)."""
    x_shape = (N, D) if T is None else (N, T, D)
    return {"x": np.linspace(-0.4, 1.2, num=int(np.prod(x_shape))).reshape(x_shape),
            "prev_h": np.linspace(-0.3, 0.7, num=N * H).reshape(N, H),
            "prev_c": np.linspace(-0.4, 0.9, num=N * H).reshape(N, H),
            "Wx": np.linspace(-2.1, 1.3, num=D * k * H).reshape(D, k * H),
            "Wh": np.linspace(-0.7, 2.2, num=H * k * H).reshape(H, k * H),
            "b": np.linspace(0.3, 0.7, num=k * H)}


def _random(rng: np.random.Generator, N: int, D: int, H: int, k: int = 4, T: int | None = None,
            scale: float = 1.0) -> dict[str, np.ndarray]:
    x_shape = (N, D) if T is None else (N, T, D)
    return {"x": rng.normal(0, scale, x_shape), "prev_h": rng.normal(0, 1, (N, H)), "prev_c": rng.normal(0, 1, (N, H)),
            "Wx": rng.normal(0, 1 / np.sqrt(D), (D, k * H)), "Wh": rng.normal(0, 1 / np.sqrt(H), (H, k * H)),
            "b": rng.normal(0, 0.5, k * H)}


def _shapes(rng: np.random.Generator, n: int) -> list[tuple[int, int, int, int]]:
    out = [(1, 1, 1, 1), (1, 3, 2, 3), (2, 1, 4, 2)]          # one example; one step; tiny sizes
    out += [tuple(int(v) for v in rng.integers(1, [5, 7, 6, 6])) for _ in range(n)]
    return out                                                # (N, T, D, H)


def _step_kwargs(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: p[k] for k in ("x", "prev_h", "prev_c", "Wx", "Wh", "b")}


def _distinct_gate_bias(rng: np.random.Generator, H: int) -> np.ndarray:
    """A bias whose four gate blocks differ clearly, so that a wrong gate order shows."""
    return np.concatenate([rng.normal(m, 0.3, H) for m in (1.0, -1.5, 0.5, -0.5)])


# ---------------------------------------------------------------- q1: lstm_step_forward

def _q1_reference(case: Case) -> tuple[np.ndarray, np.ndarray]:
    next_h, next_c, _ = lstm.lstm_step_forward(**case.kwargs)
    return next_h, next_c


def _q1_public(ns: Mapping[str, Any]) -> None:
    p = _step_kwargs(_tiny(N=3, D=4, H=5))
    got = ns["lstm_step_forward"](**p)
    if not isinstance(got, tuple) or len(got) != 2:
        raise CheckFailed("return a tuple of two arrays: (next_h, next_c)")
    next_h, next_c, _ = lstm.lstm_step_forward(**p)
    expect_close("next_c", got[1], next_c, tol=1e-8)
    expect_close("next_h", got[0], next_h, tol=1e-8)


def _q1_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for N, _, D, H in _shapes(rng, 3):
        p = _random(rng, N, D, H)
        p["b"] = _distinct_gate_bias(rng, H)
        cases.append(Case("lstm_step_forward", _step_kwargs(p), label=f"N={N}, D={D}, H={H}"))
    p = _random(rng, 3, 4, 5, scale=30.0)
    cases.append(Case("lstm_step_forward", _step_kwargs(p), label="large inputs (saturated gates)"))
    return cases


# ---------------------------------------------------------------- q2: lstm_forward

def _q2_reference(case: Case) -> np.ndarray:
    k = case.kwargs
    return lstm.lstm_forward(k["x"], k["h0"], k["Wx"], k["Wh"], k["b"])[0]


def _seq_kwargs(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"x": p["x"], "h0": p["prev_h"], "Wx": p["Wx"], "Wh": p["Wh"], "b": p["b"]}


def _q2_public(ns: Mapping[str, Any]) -> None:
    blame_earlier(ns, "lstm_step_forward", "q1", _q1_public)
    p = _seq_kwargs(_tiny(N=2, D=5, H=4, T=3))
    got = ns["lstm_forward"](**p)
    if isinstance(got, tuple):
        raise CheckFailed("return h only (an array of shape (N, T, H)), not a tuple")
    expected, _ = lstm.lstm_forward(**p)
    expect_close("h", got, expected, tol=1e-8)


def _q2_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for N, T, D, H in _shapes(rng, 3):
        p = _random(rng, N, D, H, T=T)
        p["b"] = _distinct_gate_bias(rng, H)
        cases.append(Case("lstm_forward", _seq_kwargs(p), label=f"N={N}, T={T}, D={D}, H={H}",
                          provide=provide("lstm_step_forward")))
    p = _random(rng, 2, 3, 4, T=12)
    p["b"][4:8] = 4.0                                         # forget gate open: long memory
    cases.append(Case("lstm_forward", _seq_kwargs(p), label="a long sequence with an open forget gate",
                      provide=provide("lstm_step_forward")))
    p = _random(rng, 2, 3, 4, T=5, scale=30.0)
    cases.append(Case("lstm_forward", _seq_kwargs(p), label="large inputs (saturated gates)",
                      provide=provide("lstm_step_forward")))
    return cases


# ---------------------------------------------------------------- q3: lstm_step_backward

def _q3_reference(case: Case) -> tuple:
    k = dict(case.kwargs)
    dnext_h, dnext_c = k.pop("dnext_h"), k.pop("dnext_c")
    _, _, cache = lstm.lstm_step_forward(**k)
    return lstm.lstm_step_backward(dnext_h, dnext_c, cache)


def _q3_public(ns: Mapping[str, Any]) -> None:
    rng = np.random.default_rng(231)
    N, D, H = 4, 5, 6
    p = _step_kwargs(_random(rng, N, D, H))
    k = {"dnext_h": rng.normal(size=(N, H)), "dnext_c": rng.normal(size=(N, H)), **p}
    got = ns["lstm_step_backward"](**k)
    if not isinstance(got, tuple) or len(got) != 6:
        raise CheckFailed("return a tuple of six arrays: (dx, dprev_h, dprev_c, dWx, dWh, db)")
    for name, g, e in zip(("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"), got, _q3_reference(Case("", k))):
        expect_close(name, g, e, tol=1e-8)


def _q3_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for N, _, D, H in _shapes(rng, 3):
        p = _random(rng, N, D, H)
        p["b"] = _distinct_gate_bias(rng, H)
        cases.append(Case("lstm_step_backward", {"dnext_h": rng.normal(size=(N, H)), "dnext_c": rng.normal(size=(N, H)),
                                                 **_step_kwargs(p)}, label=f"N={N}, D={D}, H={H}"))
    p = _random(rng, 2, 3, 4)
    cases.append(Case("lstm_step_backward", {"dnext_h": np.zeros((2, 4)), "dnext_c": rng.normal(size=(2, 4)),
                                             **_step_kwargs(p)}, label="gradient through the cell state only"))
    p = _random(rng, 2, 3, 4)
    cases.append(Case("lstm_step_backward", {"dnext_h": rng.normal(size=(2, 4)), "dnext_c": np.zeros((2, 4)),
                                             **_step_kwargs(p)}, label="gradient through the hidden state only"))
    return cases


# ---------------------------------------------------------------- q4: gru_step_forward

def _q4_reference(case: Case) -> np.ndarray:
    return lstm.gru_step_forward(**case.kwargs)[0]


def _gru_kwargs(p: dict[str, np.ndarray], bh: np.ndarray) -> dict[str, np.ndarray]:
    return {"x": p["x"], "prev_h": p["prev_h"], "Wx": p["Wx"], "Wh": p["Wh"], "bx": p["b"], "bh": bh}


def _q4_public(ns: Mapping[str, Any]) -> None:
    p = _tiny(N=3, D=4, H=5, k=3)
    k = _gru_kwargs(p, np.linspace(-0.5, 0.4, num=15))
    got = ns["gru_step_forward"](**k)
    if isinstance(got, tuple):
        raise CheckFailed("return next_h only (an array of shape (N, H)), not a tuple")
    expect_close("next_h", got, lstm.gru_step_forward(**k)[0], tol=1e-8)


def _q4_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for N, _, D, H in _shapes(rng, 3):
        p = _random(rng, N, D, H, k=3)
        cases.append(Case("gru_step_forward", _gru_kwargs(p, rng.normal(0, 0.5, 3 * H)), label=f"N={N}, D={D}, H={H}"))
    p = _random(rng, 2, 3, 4, k=3, scale=30.0)
    cases.append(Case("gru_step_forward", _gru_kwargs(p, rng.normal(0, 0.5, 12)), label="large inputs (saturated gates)"))
    return cases


LAB = LabSpec(
    lab_id=LAB_ID,
    title="LSTM gates",
    questions=(
        Question("q1", "lstm_step_forward: one LSTM step", 2, ("lstm_step_forward",),
                 _q1_public, _q1_cases, _q1_reference, tol=1e-7, compare=named_compare(("next_h", "next_c"), 1e-7)),
        Question("q2", "lstm_forward: an LSTM over a sequence", 2, ("lstm_forward",),
                 _q2_public, _q2_cases, _q2_reference, tol=1e-7),
        Question("q3", "lstm_step_backward: gradients of one step", 4, ("lstm_step_backward",),
                 _q3_public, _q3_cases, _q3_reference, tol=1e-7,
                 compare=named_compare(("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"), 1e-7)),
        Question("q4", "gru_step_forward: one GRU step", 2, ("gru_step_forward",),
                 _q4_public, _q4_cases, _q4_reference, tol=1e-7),
    ),
)
