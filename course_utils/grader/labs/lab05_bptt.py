"""Lab 5 -- backpropagation through time: questions, public checks and hidden tests.

Row-vector convention of unit 3: ``h_t = tanh(x_t Wx + h_{t-1} Wh + b)``, x (N, T, D), h (N, T, H).
The lab gives ``rnn_forward(x, h0, Wx, Wh, b) -> h`` and ``rnn_loss(x, h0, Wx, Wh, b, R) = sum(h * R)``
(so that dL/dh = R exactly). The student writes

* q1 ``rnn_backward(dh, x, h0, Wx, Wh, h) -> (dx, dh0, dWx, dWh, db)``        full BPTT
* q2 ``numerical_gradient(f, x, h=1e-5)``, ``rel_error(x, y)`` and
  ``rnn_numerical_grads(x, h0, Wx, Wh, b, R, step) -> {"x", "h0", "Wx", "Wh", "b": arrays}``
* q3 ``clip_by_global_norm(grads, max_norm) -> (clipped dict, norm before clipping)``
* q4 ``truncated_bptt(x, h0, Wx, Wh, b, R, k) -> (dWx, dWh, db, h_last)``       chunks of k steps

q4 is graded with the reference ``rnn_backward`` bound in place of the student's: a BPTT bug is
charged once, on q1; q4's public check says when q1 is the cause of a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ... import rnn
from ...charrnn import bptt, clipping, gradcheck
from ..spec import Case, CheckFailed, LabSpec, Question, compare_close, expect_close, magnitude, rel_error
from ._common import blame_earlier, judge_pairs, named_compare, paired, provide

LAB_ID = "05_bptt"
ARRAYS = ("x", "h0", "Wx", "Wh", "b")


def _net(rng: np.random.Generator, N: int, T: int, D: int, H: int, scale: float = 0.6) -> dict[str, np.ndarray]:
    return {"x": rng.normal(size=(N, T, D)), "h0": rng.normal(0, 0.5, (N, H)), "Wx": rng.normal(0, scale, (D, H)),
            "Wh": rng.normal(0, scale, (H, H)), "b": rng.normal(0, 0.2, H), "R": rng.normal(size=(N, T, H))}


def _forward(x, h0, Wx, Wh, b) -> np.ndarray:
    return rnn.rnn_forward(x, h0, Wx, Wh, b)[0]


def _shapes(rng: np.random.Generator, n: int) -> list[tuple[int, int, int, int]]:
    out = [(1, 1, 1, 1), (2, 1, 3, 2), (1, 6, 2, 3)]             # one step; one example
    out += [tuple(int(v) for v in rng.integers(1, [4, 8, 5, 6])) for _ in range(n)]
    return out


# ---------------------------------------------------------------- q1: rnn_backward

def _q1_inputs(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    h = _forward(p["x"], p["h0"], p["Wx"], p["Wh"], p["b"])
    return {"dh": p["R"], "x": p["x"], "h0": p["h0"], "Wx": p["Wx"], "Wh": p["Wh"], "h": h}


def _q1_public(ns: Mapping[str, Any]) -> None:
    k = _q1_inputs(_net(np.random.default_rng(5), 2, 4, 3, 5))
    got = ns["rnn_backward"](**k)
    if not isinstance(got, tuple) or len(got) != 5:
        raise CheckFailed("return a tuple of five arrays: (dx, dh0, dWx, dWh, db)")
    for name, g, e in zip(("dx", "dh0", "dWx", "dWh", "db"), got, bptt.bptt_backward(**k)):
        expect_close(name, g, e, tol=1e-8)


def _q1_cases(rng: np.random.Generator) -> list[Case]:
    cases = [Case("rnn_backward", _q1_inputs(_net(rng, N, T, D, H)), label=f"N={N}, T={T}, D={D}, H={H}")
             for N, T, D, H in _shapes(rng, 3)]
    p = _net(rng, 2, 5, 3, 4, scale=2.0)
    cases.append(Case("rnn_backward", _q1_inputs(p), label="large weights (saturated tanh)"))
    p = _net(rng, 2, 6, 3, 4)
    p["R"][:, :-1] = 0                                         # loss only at the last step
    cases.append(Case("rnn_backward", _q1_inputs(p), label="a loss at the last step only"))
    return cases


def _q1_reference(case: Case) -> tuple:
    return bptt.bptt_backward(**case.kwargs)


# ---------------------------------------------------------------- q2: gradient check

def _numerical_reference(x, h0, Wx, Wh, b, R, step=1e-5) -> dict[str, np.ndarray]:
    arrays = {"x": x.copy(), "h0": h0.copy(), "Wx": Wx.copy(), "Wh": Wh.copy(), "b": b.copy()}
    f = lambda: float(np.sum(_forward(**arrays) * R))
    return {name: gradcheck.numerical_gradient(f, arrays[name], step) for name in ARRAYS}


def _q2_compare(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
    if case.func == "numerical_gradient_probe":
        # x as the grader itself reads it back after the call (Case.shared): no code in the sandbox can fake it
        if not isinstance(got, tuple) or len(got) != 2 or not isinstance(got[1].get("x"), np.ndarray):
            return False, "the array x handed to numerical_gradient could not be read back"
        if not np.array_equal(got[1]["x"], case.kwargs["x"]):
            return False, "numerical_gradient must restore every entry of x after perturbing it"
        ok, msg = compare_close(got[0], expected, tol=1e-8, path="numerical_gradient")
        return ok, msg if ok else msg + " (centred differences (f(x+h) - f(x-h)) / 2h, with the h given)"
    if case.func == "rel_error":
        if isinstance(got, np.ndarray) and got.shape == ():
            got = float(got)
        return compare_close(got, expected, tol=1e-9, path="rel_error")
    if not isinstance(got, dict) or set(got) != set(ARRAYS):
        return False, f"return a dict with keys {list(ARRAYS)}"
    for name in ARRAYS:
        g = got[name] if isinstance(got[name], np.ndarray) else None
        if g is None or g.shape != expected[name].shape:      # the shape first: no float64 copy of a huge answer
            return False, f"{name}: expected an array of shape {expected[name].shape}"
        g = g.astype(np.float64)
        if not np.all(np.isfinite(g)):
            return False, f"{name}: contains NaN or inf"
        err = gradcheck.rel_error_norm(g, expected[name])
        if not err <= 1e-7:
            return False, (f"numerical gradient of {name}: relative error {magnitude(err)} (centred differences agree "
                           "to 1e-7)")
    return True, "ok"


def _q2_public(ns: Mapping[str, Any]) -> None:
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.7, -0.3]])
    x_before = x.copy()
    got = ns["numerical_gradient"](lambda: float(np.sum(x ** 3)), x, 1e-5)
    if not np.array_equal(x, x_before):
        raise CheckFailed("numerical_gradient must restore every entry of x after perturbing it")
    expect_close("numerical_gradient of sum(x**3) (= 3 x**2)", got, 3 * x_before ** 2, tol=1e-8)
    a, n = np.array([1.0, 2.0, 0.0]), np.array([1.0, 2.2, 0.0])
    expect_close("rel_error([1, 2, 0], [1, 2.2, 0]) (= 0.2/4.2)", ns["rel_error"](a, n), 0.2 / 4.2, tol=1e-10)
    p = _net(np.random.default_rng(2), 2, 3, 2, 3)
    got = ns["rnn_numerical_grads"](**p, step=1e-5)
    if not isinstance(got, dict) or set(got) != set(ARRAYS):
        raise CheckFailed(f"rnn_numerical_grads must return a dict with keys {list(ARRAYS)}")
    ref = _numerical_reference(**p, step=1e-5)
    for name in ARRAYS:
        expect_close(f"numerical d{name}", got[name], ref[name], tol=1e-6)


NUMGRAD_PROBE = '''
import numpy as np

def numerical_gradient_probe(x, h):
    """Call the student's numerical_gradient on f() = sum(x**3 + sin x) and return its result; x lives in
    memory the grader reads back itself, to see whether it holds its values again."""
    return student_namespace["numerical_gradient"](lambda: float(np.sum(x ** 3 + np.sin(x))), x, h)
'''


def _numgrad_reference(x: np.ndarray, h: float) -> np.ndarray:
    x = x.copy()
    return gradcheck.numerical_gradient(lambda: float(np.sum(x ** 3 + np.sin(x))), x, h)


def _q2_cases(rng: np.random.Generator) -> list[Case]:
    # Steps large enough that centred differences differ from the exact derivative by far more than the
    # tolerance (x**3's centred difference is 3x**2 + h**2): an analytic gradient passed off as a numerical one fails.
    cases = [Case("numerical_gradient_probe", {"x": rng.normal(size=(int(rng.integers(2, 5)), int(rng.integers(2, 5)))),
                                               "h": h}, label=f"f = sum(x**3 + sin x), step {h:g}",
                  provide=(("numerical_gradient_probe", NUMGRAD_PROBE),), shared=("x",)) for h in (0.1, 0.3)]
    for N, T, D, H in _shapes(rng, 2):
        cases.append(Case("rnn_numerical_grads", {**_net(rng, N, T, D, H), "step": float(rng.choice([1e-2, 3e-2]))},
                          label=f"N={N}, T={T}, D={D}, H={H}"))
    a = rng.normal(size=(3, 4))
    b = rng.normal(size=(2, 5))
    # opposite arrays have a relative error of exactly 1: paired with an ordinary call, so "return 1" earns nothing
    cases += [Case("rel_error", {"x": a, "y": a + rng.normal(0, 1e-3, a.shape)}, label="close arrays"),
              paired(Case("rel_error", {"x": a, "y": -a}, label="opposite arrays"),
                     Case("rel_error", {"x": b, "y": b + rng.normal(0, 1e-2, b.shape)}, label="close arrays")),
              Case("rel_error", {"x": np.zeros(3), "y": np.array([0.0, 1e-9, 0.0])}, label="near zero")]
    return cases


def _q2_reference(case: Case) -> Any:
    if case.func == "numerical_gradient_probe":
        return _numgrad_reference(**case.kwargs)
    if case.func == "rel_error":
        return rel_error(case.kwargs["x"], case.kwargs["y"])
    return _numerical_reference(**case.kwargs)


# ---------------------------------------------------------------- q3: clip_by_global_norm

def _q3_public(ns: Mapping[str, Any]) -> None:
    grads = {"a": np.array([3.0, -4.0]), "b": np.array([[12.0]])}
    got = ns["clip_by_global_norm"]({k: v.copy() for k, v in grads.items()}, 6.5)
    if not isinstance(got, tuple) or len(got) != 2 or not isinstance(got[0], dict):
        raise CheckFailed("return a tuple (clipped_grads_dict, norm)")
    expect_close("norm (= 13)", got[1], 13.0, tol=1e-12)
    expect_close("clipped['a'] (= [1.5, -2])", got[0]["a"], [1.5, -2.0], tol=1e-12)
    expect_close("clipped['b'] (= [[6]])", got[0]["b"], [[6.0]], tol=1e-12)
    same = ns["clip_by_global_norm"]({k: v.copy() for k, v in grads.items()}, 100.0)[0]
    expect_close("a small gradient is left alone", same["b"], grads["b"], tol=0)


def _q3_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for label, scale, max_norm in [("large gradients", 5.0, 1.0), ("small gradients", 0.01, 5.0),
                                   ("random", float(rng.uniform(0.5, 3)), float(rng.uniform(1, 5)))]:
        grads = {k: rng.normal(0, scale, shape) for k, shape in
                 [("Wx", (3, 4)), ("Wh", (4, 4)), ("b", (4,)), ("Wy", (4, 2))]}
        cases.append(Case("clip_by_global_norm", {"grads": grads, "max_norm": max_norm}, label=label))
    big = {"w": rng.normal(0, 5.0, (3, 2))}
    cases.append(paired(Case("clip_by_global_norm", {"grads": {"w": np.zeros((2, 2))}, "max_norm": 1.0}, label="all zero"),
                        Case("clip_by_global_norm", {"grads": big, "max_norm": 1.0}, label="large gradients")))
    one = {"w": rng.normal(size=5)}
    cases.append(Case("clip_by_global_norm", {"grads": one, "max_norm": float(np.linalg.norm(one["w"]))},
                      label="norm exactly at the threshold"))
    return cases


def _q3_reference(case: Case) -> tuple:
    return clipping.clip_by_global_norm(case.kwargs["grads"], case.kwargs["max_norm"])


# ---------------------------------------------------------------- q4: truncated_bptt

def _q4_public(ns: Mapping[str, Any]) -> None:
    blame_earlier(ns, "rnn_backward", "q1", _q1_public)
    p = _net(np.random.default_rng(9), 2, 7, 3, 4)
    for k in (7, 3, 1):
        got = ns["truncated_bptt"](**p, k=k)
        if not isinstance(got, tuple) or len(got) != 4:
            raise CheckFailed("return a tuple of four arrays: (dWx, dWh, db, h_last)")
        exp = bptt.truncated_bptt(p["x"], p["h0"], p["Wx"], p["Wh"], p["b"], p["R"], k)
        print(f"  k = {k}{' (full BPTT)' if k == 7 else ''}:")
        for name, g, e in zip(("dWx", "dWh", "db", "h_last"), got, exp):
            expect_close(name, g, e, tol=1e-8)


def _q4_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for T, k, label in [(8, 8, "k = T"), (8, 20, "k > T"), (8, 1, "k = 1"), (9, 4, "k does not divide T"),
                        (12, 3, "several chunks")]:
        N, D, H = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(2, 6))
        cases.append(Case("truncated_bptt", {**_net(rng, N, T, D, H), "k": k}, label=f"{label} (T={T}, k={k})",
                          provide=provide("rnn_backward")))
    return cases


def _q4_reference(case: Case) -> tuple:
    k = case.kwargs
    return bptt.truncated_bptt(k["x"], k["h0"], k["Wx"], k["Wh"], k["b"], k["R"], k["k"])


_Q2_PAIRS = judge_pairs(_q2_reference, _q2_compare)
_Q3_PAIRS = judge_pairs(_q3_reference, named_compare(("clipped", "norm"), 1e-9))

LAB = LabSpec(
    lab_id=LAB_ID,
    title="Backpropagation through time",
    questions=(
        Question("q1", "rnn_backward: BPTT for a multi-step RNN", 4, ("rnn_backward",),
                 _q1_public, _q1_cases, _q1_reference, tol=1e-7,
                 compare=named_compare(("dx", "dh0", "dWx", "dWh", "db"), 1e-7)),
        Question("q2", "gradient check: numerical gradients and relative errors", 2,
                 ("numerical_gradient", "rel_error", "rnn_numerical_grads"),
                 _q2_public, _q2_cases, _Q2_PAIRS[0], compare=_Q2_PAIRS[1]),
        Question("q3", "clip_by_global_norm: clipping by the global norm", 2, ("clip_by_global_norm",),
                 _q3_public, _q3_cases, _Q3_PAIRS[0], tol=1e-9, compare=_Q3_PAIRS[1]),
        Question("q4", "truncated_bptt: carry the state, backpropagate k steps", 3, ("truncated_bptt",),
                 _q4_public, _q4_cases, _q4_reference, tol=1e-7,
                 compare=named_compare(("dWx", "dWh", "db", "h_last"), 1e-7)),
    ),
)
