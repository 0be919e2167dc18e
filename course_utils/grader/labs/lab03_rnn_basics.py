"""Lab 3 -- RNN basics: questions, public checks and hidden tests.

The student writes NumPy functions that return plain arrays (no caches):

* q1 ``rnn_step_forward(x, prev_h, Wx, Wh, b) -> next_h``
* q2 ``rnn_step_backward(dnext_h, x, prev_h, Wx, Wh, next_h) -> (dx, dprev_h, dWx, dWh, db)``
* q3 ``rnn_forward(x, h0, Wx, Wh, b) -> h``                      (N, T, H)
* q4 ``birnn_forward(x, h0_fwd, h0_bwd, Wx_f, Wh_f, b_f, Wx_b, Wh_b, b_b) -> h``   (N, T, 2H)
* q5 ``hello_loss(text, W_xh, W_hh, W_hy, b_h, b_y) -> loss``     (float); column-vector convention,
  W_xh (H, 4), W_hh (H, H), W_hy (4, H), 1-D biases b_h (H,), b_y (4,)

q3 is graded with the reference ``rnn_step_forward`` bound in place of the student's, and q4 with the
reference ``rnn_forward``: a bug in an earlier function is charged once, on its own question. The
public checks of q3 and q4 say so when the earlier function is the cause of a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ... import rnn
from ..spec import Case, CheckFailed, LabSpec, Question, expect_close
from ._common import blame_earlier, named_compare, provide

LAB_ID = "03_rnn_basics"


# ---------------------------------------------------------------- fixed public inputs (cs231n style)

def _tiny(N: int = 3, T: int = 4, D: int = 10, H: int = 4) -> dict[str, np.ndarray]:
    return {
        "x": np.linspace(-0.4, 0.7, num=N * T * D).reshape(N, T, D),
        "h0": np.linspace(-0.4, 0.8, num=N * H).reshape(N, H),
        "Wx": np.linspace(-0.2, 0.4, num=D * H).reshape(D, H),
        "Wh": np.linspace(-0.4, 0.1, num=H * H).reshape(H, H),
        "b": np.linspace(-0.7, 0.1, num=H),
    }


def _random_rnn(rng: np.random.Generator, N: int, T: int, D: int, H: int, scale: float = 1.0) -> dict[str, np.ndarray]:
    return {
        "x": rng.normal(0, scale, (N, T, D)),
        "h0": rng.normal(0, 1, (N, H)),
        "Wx": rng.normal(0, 1 / np.sqrt(D), (D, H)),
        "Wh": rng.normal(0, 1 / np.sqrt(H), (H, H)),
        "b": rng.normal(0, 0.5, H),
    }


def _shape_grid(rng: np.random.Generator, n: int) -> list[tuple[int, int, int, int]]:
    shapes = [(1, 1, 1, 1), (1, 1, 3, 2)]  # edge cases: a single example, a single step, tiny sizes
    shapes += [tuple(int(v) for v in rng.integers(1, [5, 7, 8, 7])) for _ in range(n)]
    return shapes


# ---------------------------------------------------------------- q1: rnn_step_forward

def _q1_public(ns: Mapping[str, Any]) -> None:
    p = _tiny(N=3, T=1, D=10, H=4)
    x, h = p["x"][:, 0, :], p["h0"]
    got = ns["rnn_step_forward"](x, h, p["Wx"], p["Wh"], p["b"])
    if isinstance(got, tuple):
        raise CheckFailed("return next_h only (an array of shape (N, H)), not a tuple")
    expected, _ = rnn.rnn_step_forward(x, h, p["Wx"], p["Wh"], p["b"])
    expect_close("next_h", got, expected, tol=1e-8)


def _q1_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for N, _, D, H in _shape_grid(rng, 4):
        p = _random_rnn(rng, N, 1, D, H)
        cases.append(Case("rnn_step_forward", {"x": p["x"][:, 0], "prev_h": p["h0"], "Wx": p["Wx"],
                                               "Wh": p["Wh"], "b": p["b"]}, label=f"N={N}, D={D}, H={H}"))
    p = _random_rnn(rng, 2, 1, 3, 4, scale=20.0)
    cases.append(Case("rnn_step_forward", {"x": p["x"][:, 0], "prev_h": p["h0"], "Wx": p["Wx"], "Wh": p["Wh"],
                                           "b": p["b"]}, label="large inputs (saturated tanh)"))
    return cases


def _q1_reference(case: Case) -> np.ndarray:
    k = case.kwargs
    return rnn.rnn_step_forward(k["x"], k["prev_h"], k["Wx"], k["Wh"], k["b"])[0]


# ---------------------------------------------------------------- q2: rnn_step_backward

def _step_backward_reference(dnext_h, x, prev_h, Wx, Wh, next_h):
    return rnn.rnn_step_backward(dnext_h, (x, prev_h, Wx, Wh, next_h))


def _q2_public(ns: Mapping[str, Any]) -> None:
    rng = np.random.default_rng(231)
    N, D, H = 4, 5, 6
    x, h = rng.normal(size=(N, D)), rng.normal(size=(N, H))
    Wx, Wh, b = rng.normal(size=(D, H)), rng.normal(size=(H, H)), rng.normal(size=H)
    next_h, _ = rnn.rnn_step_forward(x, h, Wx, Wh, b)
    dnext_h = rng.normal(size=(N, H))
    got = ns["rnn_step_backward"](dnext_h, x, h, Wx, Wh, next_h)
    if not isinstance(got, tuple) or len(got) != 5:
        raise CheckFailed("return a tuple of five arrays: (dx, dprev_h, dWx, dWh, db)")
    expected = _step_backward_reference(dnext_h, x, h, Wx, Wh, next_h)
    for name, g, e in zip(("dx", "dprev_h", "dWx", "dWh", "db"), got, expected):
        expect_close(name, g, e, tol=1e-8)


def _q2_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for N, _, D, H in _shape_grid(rng, 4):
        p = _random_rnn(rng, N, 1, D, H)
        x = p["x"][:, 0]
        next_h, _ = rnn.rnn_step_forward(x, p["h0"], p["Wx"], p["Wh"], p["b"])
        cases.append(Case("rnn_step_backward", {"dnext_h": rng.normal(size=(N, H)), "x": x, "prev_h": p["h0"],
                                                "Wx": p["Wx"], "Wh": p["Wh"], "next_h": next_h},
                          label=f"N={N}, D={D}, H={H}"))
    return cases


def _q2_reference(case: Case) -> tuple:
    return _step_backward_reference(**case.kwargs)


# ---------------------------------------------------------------- q3: rnn_forward

def _q3_public(ns: Mapping[str, Any]) -> None:
    blame_earlier(ns, "rnn_step_forward", "q1", _q1_public)
    p = _tiny(N=2, T=3, D=4, H=5)
    got = ns["rnn_forward"](p["x"], p["h0"], p["Wx"], p["Wh"], p["b"])
    if isinstance(got, tuple):
        raise CheckFailed("return h only (an array of shape (N, T, H)), not a tuple")
    expected, _ = rnn.rnn_forward(p["x"], p["h0"], p["Wx"], p["Wh"], p["b"])
    expect_close("h", got, expected, tol=1e-8)


def _q3_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for N, T, D, H in _shape_grid(rng, 4):
        p = _random_rnn(rng, N, T, D, H)
        cases.append(Case("rnn_forward", p, label=f"N={N}, T={T}, D={D}, H={H}",
                          provide=provide("rnn_step_forward")))
    return cases


def _q3_reference(case: Case) -> np.ndarray:
    k = case.kwargs
    return rnn.rnn_forward(k["x"], k["h0"], k["Wx"], k["Wh"], k["b"])[0]


# ---------------------------------------------------------------- q4: birnn_forward

def _birnn_reference(x, h0_fwd, h0_bwd, Wx_f, Wh_f, b_f, Wx_b, Wh_b, b_b) -> np.ndarray:
    return rnn.birnn_forward(x, h0_fwd, h0_bwd, {"Wx": Wx_f, "Wh": Wh_f, "b": b_f},
                             {"Wx": Wx_b, "Wh": Wh_b, "b": b_b})[0]


def _birnn_inputs(rng: np.random.Generator, N: int, T: int, D: int, H: int) -> dict[str, np.ndarray]:
    f, b = _random_rnn(rng, N, T, D, H), _random_rnn(rng, N, T, D, H)
    return {"x": f["x"], "h0_fwd": f["h0"], "h0_bwd": b["h0"], "Wx_f": f["Wx"], "Wh_f": f["Wh"], "b_f": f["b"],
            "Wx_b": b["Wx"], "Wh_b": b["Wh"], "b_b": b["b"]}


def _q4_public(ns: Mapping[str, Any]) -> None:
    blame_earlier(ns, "rnn_forward", "q3", _q3_public)
    p = _birnn_inputs(np.random.default_rng(3), N=2, T=4, D=3, H=2)
    got = ns["birnn_forward"](**p)
    expect_close("h", got, _birnn_reference(**p), tol=1e-8)


def _q4_cases(rng: np.random.Generator) -> list[Case]:
    return [Case("birnn_forward", _birnn_inputs(rng, N, T, D, H), label=f"N={N}, T={T}, D={D}, H={H}",
                 provide=provide("rnn_step_forward", "rnn_forward"))
            for N, T, D, H in _shape_grid(rng, 4)]


def _q4_reference(case: Case) -> np.ndarray:
    return _birnn_reference(**case.kwargs)


# ---------------------------------------------------------------- q5: the "hello" model's loss

def _hello_reference(text, W_xh, W_hh, W_hy, b_h, b_y) -> float:
    params = {"W_xh": W_xh, "W_hh": W_hh, "W_hy": W_hy, "b_h": b_h, "b_y": b_y}
    return rnn.hello_forward(params, text)["loss"]


def _q5_public(ns: Mapping[str, Any]) -> None:
    params = rnn.hello_params(seed=0)
    params["b_h"], params["b_y"] = np.array([0.3, -0.2, 0.1]), np.array([0.2, -0.1, 0.0, 0.4])  # 1-D: (H,), (4,)
    got = ns["hello_loss"]("hello", **params)
    if isinstance(got, np.ndarray) and got.size != 1:
        raise CheckFailed(f"return the loss as one number; got an array of shape {got.shape} (b_h is (H,) and b_y is "
                          "(4,), 1-D: a column-vector state (H, 1) plus a 1-D bias broadcasts to (H, H))")
    expect_close("loss('hello') with biases b_h (3,), b_y (4,)", got, _hello_reference("hello", **params), tol=1e-8)
    uniform = {k: np.zeros_like(v) for k, v in params.items()}
    expect_close("loss with all-zero weights (= 4 ln 4)", ns["hello_loss"]("hello", **uniform), 4 * np.log(4), tol=1e-8)


def _q5_cases(rng: np.random.Generator) -> list[Case]:
    words = ["hello", "he", "hell", "lol", "olleh"]
    words.append("".join(rng.choice(list("helo"), size=int(rng.integers(3, 12)))))
    cases = []
    for w in words:
        H = int(rng.integers(2, 6))
        params = rnn.hello_params(seed=int(rng.integers(1 << 30)), hidden=H)
        params["b_h"] = rng.normal(0, 0.5, H)
        params["b_y"] = rng.normal(0, 0.5, 4)
        cases.append(Case("hello_loss", {"text": w, **params}, label=f"a {len(w)}-character word, H={H}"))
    return cases


def _q5_reference(case: Case) -> float:
    return _hello_reference(**case.kwargs)


LAB = LabSpec(
    lab_id=LAB_ID,
    title="RNN basics",
    questions=(
        Question("q1", "rnn_step_forward: one step of a vanilla RNN", 2, ("rnn_step_forward",),
                 _q1_public, _q1_cases, _q1_reference, tol=1e-7),
        Question("q2", "rnn_step_backward: gradients of one step", 3, ("rnn_step_backward",),
                 _q2_public, _q2_cases, _q2_reference, tol=1e-7,
                 compare=named_compare(("dx", "dprev_h", "dWx", "dWh", "db"), 1e-7)),
        Question("q3", "rnn_forward: a whole sequence with shared weights", 2, ("rnn_forward",),
                 _q3_public, _q3_cases, _q3_reference, tol=1e-7),
        Question("q4", "birnn_forward: a bidirectional layer", 2, ("birnn_forward",),
                 _q4_public, _q4_cases, _q4_reference, tol=1e-7),
        Question("q5", "hello_loss: the character model's loss", 1, ("hello_loss",),
                 _q5_public, _q5_cases, _q5_reference, tol=1e-7),
    ),
)
