"""Lab 2 -- fooling a classifier: questions, public checks and hidden tests.

The student writes functions on plain arrays (NumPy; torch autograd is allowed and imported in the
sandbox when the notebook uses it). Linear models: a binary logistic model ``sigmoid(w.x + b)`` with
w (D,), and a softmax model ``softmax(X W + b)`` with X (N, D) in [0, 1], W (D, C), b (C,), y (N,) ints.

* q1 ``toy_attack(x, w, b, eps) -> (x_adv, p_before, p_after)``: ``x_adv = x + eps * sign(w)``, P(y=1) before/after
* q2 ``min_flip_eps(x, w, b) -> float``: ``|w.x + b| / ||w||_1``, the smallest L-inf budget that flips the decision
* q3 ``fgsm_linear(X, y, W, b, eps) -> X_adv``: one FGSM step on the mean cross-entropy, clipped to [0, 1]
* q4 ``accuracy_under_attack(X, y, W, b, eps_list) -> (len(eps_list),)`` accuracies under FGSM
* q5 ``pgd_step(X_adv, X, y, W, b, eps, alpha) -> X_adv``: one signed step from X_adv, projected onto
  ``|X_adv - X| <= eps`` and [0, 1]

q4 and q5 are graded with the reference ``fgsm_linear`` bound in place of the student's, so a bug in
q3 is charged once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ...linear import sigmoid, softmax
from ..spec import Case, CheckFailed, LabSpec, Question, compare_close, expect_close

LAB_ID = "02_adversarial"

#: the slides' example
TOY_X = np.array([2, -1, 3, -2, 2, 2, 1, -4, 5, 1], dtype=np.float64)
TOY_W = np.array([-1, -1, 1, -1, 1, -1, 1, 1, -1, 1], dtype=np.float64)

#: the reference FGSM in the students' interface, bound in the sandbox for q4 and q5
FGSM_SOURCE = '''
import numpy as np

def fgsm_linear(X, y, W, b, eps):
    S = X @ W + b
    P = np.exp(S - S.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    P[np.arange(len(y)), y] -= 1.0
    return np.clip(X + eps * np.sign(P @ W.T), 0.0, 1.0)
'''


# ---------------------------------------------------------------- references

def _input_grad(X: np.ndarray, y: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    P = softmax(X @ W + b)
    P[np.arange(len(y)), y] -= 1.0
    return P @ W.T


def _fgsm(X, y, W, b, eps):
    return np.clip(X + eps * np.sign(_input_grad(X, y, W, b)), 0.0, 1.0)


def _accuracies(X, y, W, b, eps_list):
    return np.array([np.mean((_fgsm(X, y, W, b, e) @ W + b).argmax(1) == y) for e in eps_list])


def _pgd_step(X_adv, X, y, W, b, eps, alpha):
    Z = X_adv + alpha * np.sign(_input_grad(X_adv, y, W, b))
    return np.clip(np.clip(Z, X - eps, X + eps), 0.0, 1.0)


def _softmax_problem(rng: np.random.Generator, N: int, D: int, C: int, *, noise: float = 0.15,
                     binary_pixels: bool = False) -> dict[str, np.ndarray]:
    """Inputs in [0, 1], a random softmax model, labels mostly what the model predicts (some flipped)."""
    X = rng.uniform(0, 1, (N, D))
    if binary_pixels:          # digit-like: many pixels exactly 0 or 1, where clipping matters
        X = np.where(X < 0.4, 0.0, np.where(X > 0.7, 1.0, X))
    W = rng.normal(0, 1.5 / np.sqrt(D), (D, C))
    b = rng.normal(0, 0.3, C)
    y = (X @ W + b).argmax(1)
    flip = rng.uniform(size=N) < noise
    y[flip] = rng.integers(0, C, int(flip.sum()))
    return {"X": X, "y": y.astype(np.int64), "W": W, "b": b}


# ---------------------------------------------------------------- q1: toy_attack

def _q1_public(ns: Mapping[str, Any]) -> None:
    got = ns["toy_attack"](TOY_X.copy(), TOY_W.copy(), 0.0, 0.5)
    if not isinstance(got, tuple) or len(got) != 3:
        raise CheckFailed("return a tuple (x_adv, p_before, p_after)")
    x_adv, p0, p1 = got
    expect_close("x_adv (= the slide's 1.5, -1.5, 3.5, ...)", x_adv,
                 [1.5, -1.5, 3.5, -2.5, 2.5, 1.5, 1.5, -3.5, 4.5, 1.5], tol=1e-12)
    expect_close("p_before (= 0.0474)", p0, sigmoid(-3.0), tol=1e-8)
    expect_close("p_after (= 0.8808)", p1, sigmoid(2.0), tol=1e-8)
    w = np.array([0.5, -2.0, 0.0])
    got = ns["toy_attack"](np.array([1.0, 1.0, 1.0]), w, 0.25, 0.1)
    expect_close("x_adv with weights that are not +-1 (one is 0)", got[0], [1.1, 0.9, 1.0], tol=1e-12)
    expect_close("p_after with a bias", got[2], sigmoid(0.5 - 2.0 + 0.25 + 0.1 * 2.5), tol=1e-8)


def _q1_cases(rng: np.random.Generator) -> list[Case]:
    cases = [Case("toy_attack", {"x": TOY_X.copy(), "w": TOY_W.copy(), "b": 0.0, "eps": 0.5}, label="the slides' example")]
    for D in (1, 7, 64, int(rng.integers(100, 400))):
        w = rng.normal(0, 1, D)
        x = rng.normal(0, 1, D)
        b = float(rng.normal(0, 1))
        score = x @ w + b
        x -= 0.8 * score * w / (w @ w)                 # keep |w.x + b| moderate (no saturated sigmoid)
        cases.append(Case("toy_attack", {"x": x, "w": w, "b": b, "eps": float(rng.uniform(0.01, 0.3))},
                          label=f"random weights, D={D}"))
    cases.append(Case("toy_attack", {"x": rng.normal(0, 1, 5), "w": np.array([1.0, 0.0, -3.0, 0.0, 0.5]),
                                     "b": 0.0, "eps": 0.0}, label="eps = 0"))
    return cases


def _q1_reference(case: Case) -> tuple:
    k = case.kwargs
    x_adv = k["x"] + k["eps"] * np.sign(k["w"])
    return x_adv, sigmoid(k["x"] @ k["w"] + k["b"]), sigmoid(x_adv @ k["w"] + k["b"])


def _named(names: tuple[str, ...], tol: float):
    def compare(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
        if not isinstance(got, (tuple, list)) or len(got) != len(names):
            return False, f"expected a tuple of {len(names)} values ({', '.join(names)})"
        for name, g, e in zip(names, got, expected):
            ok, msg = compare_close(g, e, tol, path=name)
            if not ok:
                return False, msg
        return True, "ok"
    return compare


def _image(name: str, tol: float):
    """Compare an adversarial image; when it is wrong and leaves the pixel range [0, 1], say so."""
    def compare(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
        ok, msg = compare_close(got, expected, tol, path=name)
        if not ok and isinstance(got, np.ndarray) and got.dtype.kind in "biuf" and got.size:
            with np.errstate(invalid="ignore"):
                outside = int(np.count_nonzero((got < 0) | (got > 1)))
            if outside:
                msg += f"; {outside} of {got.size} pixels lie outside [0, 1] (clip to the pixel range)"
        return ok, msg
    return compare


# ---------------------------------------------------------------- q2: min_flip_eps

def _q2_public(ns: Mapping[str, Any]) -> None:
    eps = ns["min_flip_eps"](TOY_X.copy(), TOY_W.copy(), 0.0)
    expect_close("eps* for the slides' example (= 3 / 10)", eps, 0.3, tol=1e-10)
    x, w, b = np.array([1.0, 2.0]), np.array([3.0, -0.5]), 1.0        # score 3 > 0: push down
    eps = ns["min_flip_eps"](x, w, b)
    expect_close("eps* for a positive score (= 3 / 3.5)", eps, 3.0 / 3.5, tol=1e-10)
    print(f"  the slides' x + eps* sign(w) has score {abs(float((TOY_X + 0.3 * TOY_W) @ TOY_W)):.4f} (the boundary)")


def _q2_cases(rng: np.random.Generator) -> list[Case]:
    cases = [Case("min_flip_eps", {"x": TOY_X.copy(), "w": TOY_W.copy(), "b": 0.0}, label="the slides' example")]
    for label, D, shift in [("negative score", 20, -2.0), ("positive score", 50, 3.0), ("one dimension", 1, 0.5),
                            ("large D", 3000, -1.0)]:
        w = rng.normal(0, 1, D)
        x = rng.normal(0, 1, D)
        b = float(shift - x @ w + rng.normal(0, 0.1))      # score = shift + small noise
        cases.append(Case("min_flip_eps", {"x": x, "w": w, "b": b}, label=label))
    w = np.array([0.0, 2.0, 0.0, -1.0])
    cases.append(Case("min_flip_eps", {"x": rng.normal(0, 1, 4), "w": w, "b": 0.7}, label="some weights zero"))
    return cases


def _q2_reference(case: Case) -> float:
    k = case.kwargs
    return float(abs(k["x"] @ k["w"] + k["b"]) / np.abs(k["w"]).sum())


# ---------------------------------------------------------------- q3: fgsm_linear

def _tiny_problem() -> dict[str, np.ndarray]:
    N, D, C = 4, 6, 3
    return {"X": np.clip(np.linspace(-0.1, 1.1, N * D).reshape(N, D), 0, 1),
            "y": np.array([0, 2, 1, 2]),
            "W": np.linspace(-1.0, 0.8, D * C).reshape(D, C) ** 3,
            "b": np.array([0.1, -0.2, 0.05])}


def _q3_public(ns: Mapping[str, Any]) -> None:
    p = _tiny_problem()
    got = ns["fgsm_linear"](p["X"].copy(), p["y"].copy(), p["W"].copy(), p["b"].copy(), 0.1)
    if isinstance(got, tuple):
        raise CheckFailed("return X_adv only (an array of shape (N, D))")
    got = np.asarray(got)
    if got.min() < 0 or got.max() > 1:
        raise CheckFailed("X_adv leaves the pixel range: clip it to [0, 1]")
    expect_close("X_adv, eps = 0.1", got, _fgsm(p["X"], p["y"], p["W"], p["b"], 0.1), tol=1e-7)
    got = ns["fgsm_linear"](p["X"].copy(), p["y"].copy(), p["W"].copy(), p["b"].copy(), 0.0)
    expect_close("X_adv, eps = 0 (unchanged)", got, p["X"], tol=1e-7)


def _q3_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for N, D, C, eps, binary in [(1, 3, 2, 0.1, False), (5, 10, 3, 0.05, False), (8, 64, 10, 0.2, True),
                                 (16, 30, 5, 0.3, True), (6, 12, 4, 1.0, False)]:
        p = _softmax_problem(rng, N, D, C, binary_pixels=binary)
        cases.append(Case("fgsm_linear", {**p, "eps": eps},
                          label=f"N={N}, D={D}, C={C}, eps={eps}" + (", many pixels at 0 or 1" if binary else "")))
    return cases


def _q3_reference(case: Case) -> np.ndarray:
    k = case.kwargs
    return _fgsm(k["X"], k["y"], k["W"], k["b"], k["eps"])


# ---------------------------------------------------------------- q4: accuracy_under_attack

def _q4_public(ns: Mapping[str, Any]) -> None:
    p = _tiny_problem()
    eps_list = [0.0, 0.1, 0.5]
    got = ns["accuracy_under_attack"](p["X"].copy(), p["y"].copy(), p["W"].copy(), p["b"].copy(), eps_list)
    expected = _accuracies(p["X"], p["y"], p["W"], p["b"], eps_list)
    try:
        expect_close(f"accuracies for eps = {eps_list} (= {np.round(expected, 4).tolist()})", got, expected, tol=1e-9)
    except CheckFailed as err:
        raise CheckFailed(f"{err}. If check('q3') fails too, fix fgsm_linear first") from None


def _q4_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for N, D, C, eps_list in [(40, 20, 4, [0.0, 0.02, 0.05, 0.1, 0.2]), (100, 64, 10, [0.0, 0.01, 0.03, 0.1]),
                              (1, 5, 2, [0.0, 0.5]), (60, 30, 3, [0.3, 0.05, 0.0])]:
        p = _softmax_problem(rng, N, D, C, binary_pixels=D == 64)
        cases.append(Case("accuracy_under_attack", {**p, "eps_list": list(eps_list)}, seed=int(rng.integers(1 << 30)),
                          label=f"N={N}, C={C}, {len(eps_list)} budgets", provide=(("fgsm_linear", FGSM_SOURCE),)))
    return cases


def _q4_reference(case: Case) -> np.ndarray:
    k = case.kwargs
    return _accuracies(k["X"], k["y"], k["W"], k["b"], k["eps_list"])


def _q4_compare(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
    if isinstance(got, (list, tuple)) and all(isinstance(v, (int, float)) for v in got):
        got = np.asarray(got, dtype=np.float64)
    return compare_close(got, expected, tol=1e-9)


# ---------------------------------------------------------------- q5: pgd_step

def _q5_public(ns: Mapping[str, Any]) -> None:
    p = _tiny_problem()
    X, y, W, b = p["X"], p["y"], p["W"], p["b"]
    X_adv = np.clip(X + 0.08 * np.sign(np.sin(np.arange(X.size)).reshape(X.shape)), 0, 1)
    got = ns["pgd_step"](X_adv.copy(), X.copy(), y.copy(), W.copy(), b.copy(), 0.1, 0.05)
    got = np.asarray(got)
    if np.abs(got - X).max() > 0.1 + 1e-12:
        raise CheckFailed("the result is further than eps from X: project onto the L-inf ball around X")
    expect_close("X_adv after one step (eps = 0.1, alpha = 0.05)", got, _pgd_step(X_adv, X, y, W, b, 0.1, 0.05), tol=1e-7)


def _q5_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for N, D, C, eps, alpha in [(5, 8, 3, 0.1, 0.04), (10, 64, 10, 0.05, 0.02), (3, 4, 2, 0.3, 0.5), (20, 30, 5, 0.2, 0.1)]:
        p = _softmax_problem(rng, N, D, C, binary_pixels=D == 64)
        X_adv = np.clip(p["X"] + rng.uniform(-eps, eps, p["X"].shape), 0, 1)   # somewhere inside the ball
        cases.append(Case("pgd_step", {"X_adv": X_adv, **p, "eps": eps, "alpha": alpha},
                          label=f"N={N}, D={D}, eps={eps}, alpha={alpha}", provide=(("fgsm_linear", FGSM_SOURCE),)))
    return cases


def _q5_reference(case: Case) -> np.ndarray:
    k = case.kwargs
    return _pgd_step(k["X_adv"], k["X"], k["y"], k["W"], k["b"], k["eps"], k["alpha"])


LAB = LabSpec(
    lab_id=LAB_ID,
    title="Fooling a classifier",
    questions=(
        Question("q1", "toy_attack: the slides' nudge x + eps sign(w) and P(y=1) before and after", 2,
                 ("toy_attack",), _q1_public, _q1_cases, _q1_reference, tol=1e-8,
                 compare=_named(("x_adv", "p_before", "p_after"), 1e-8)),
        Question("q2", "min_flip_eps: the smallest L-inf budget that flips a linear classifier", 2,
                 ("min_flip_eps",), _q2_public, _q2_cases, _q2_reference, tol=1e-8),
        Question("q3", "fgsm_linear: the fast gradient sign method on a softmax classifier", 3,
                 ("fgsm_linear",), _q3_public, _q3_cases, _q3_reference, tol=1e-7, compare=_image("X_adv", 1e-7)),
        Question("q4", "accuracy_under_attack: accuracy under FGSM for a list of budgets", 2,
                 ("accuracy_under_attack",), _q4_public, _q4_cases, _q4_reference, compare=_q4_compare),
        Question("q5", "pgd_step: one projected gradient step in the L-inf ball", 2,
                 ("pgd_step",), _q5_public, _q5_cases, _q5_reference, tol=1e-7, compare=_image("result", 1e-7)),
    ),
)
