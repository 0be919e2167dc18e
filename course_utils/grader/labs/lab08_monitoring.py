"""Lab 8 -- what TensorBoard shows you, and variable-length batches: questions, checks, hidden tests.

The student writes, in NumPy,

* q1 ``clip_by_global_norm(grads, max_norm) -> (clipped list, norm before clipping)``  (a list of arrays,
  like ``torch.nn.utils.clip_grad_norm_`` over ``model.parameters()``: every array times
  ``min(1, max_norm / (norm + 1e-6))``; the tolerance, 1e-6, also accepts ``max_norm / norm``)
* q2 ``pad_sequences(seqs, pad_value=0.0) -> (padded (N, T_max, D), lengths (N,) int, mask (N, T_max) bool)``
* q3 ``last_valid_state(h, lengths) -> (N, H)``: the state at step ``lengths[n] - 1`` of each sequence
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..spec import Case, CheckFailed, LabSpec, Question, compare_close, expect_close
from ._common import judge_pairs, named_compare, paired

LAB_ID = "08_monitoring"


# ---------------------------------------------------------------- references

CLIP_EPS = 1e-6     # torch.nn.utils.clip_grad_norm_: clip_coef = max_norm / (total_norm + 1e-6), clamped to 1
CLIP_TOL = 1e-6     # accepts max_norm / norm too: the two differ by ~1e-6 / norm, relative


def _clip(grads, max_norm):
    norm = float(np.sqrt(sum(float(np.sum(np.asarray(g, dtype=np.float64) ** 2)) for g in grads)))
    scale = min(1.0, max_norm / (norm + CLIP_EPS))
    return [np.asarray(g, dtype=np.float64) * scale for g in grads], norm


def _pad(seqs, pad_value=0.0):
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    N, T, D = len(seqs), int(lengths.max()), seqs[0].shape[1]
    padded = np.full((N, T, D), pad_value, dtype=np.float64)
    mask = np.zeros((N, T), dtype=bool)
    for n, s in enumerate(seqs):
        padded[n, :len(s)] = s
        mask[n, :len(s)] = True
    return padded, lengths, mask


def _last(h, lengths):
    return h[np.arange(h.shape[0]), np.asarray(lengths) - 1]


# ---------------------------------------------------------------- q1: clip_by_global_norm

def _q1_public(ns: Mapping[str, Any]) -> None:
    grads = [np.array([3.0, -4.0]), np.array([[12.0]])]
    got = ns["clip_by_global_norm"]([g.copy() for g in grads], 6.5)
    if not isinstance(got, tuple) or len(got) != 2 or not isinstance(got[0], list):
        raise CheckFailed("return a tuple (list of clipped arrays, norm)")
    expect_close("norm (= 13)", got[1], 13.0, tol=1e-12)
    ref, _ = _clip(grads, 6.5)
    expect_close("clipped[0] (= [1.5, -2] x 13/(13 + 1e-6))", got[0][0], ref[0], tol=CLIP_TOL)
    expect_close("clipped[1] (= [[6]] x 13/(13 + 1e-6))", got[0][1], ref[1], tol=CLIP_TOL)
    same = ns["clip_by_global_norm"]([g.copy() for g in grads], 100.0)[0]
    expect_close("a small gradient is left alone", same[1], grads[1], tol=0)


def _q1_cases(rng: np.random.Generator) -> list[Case]:
    shapes = [(8, 16), (16, 16), (16,), (16, 10)]
    cases = []
    for label, scale, max_norm in [("large gradients", 5.0, 1.0), ("small gradients", 0.01, 5.0),
                                   ("random", float(rng.uniform(0.5, 3)), float(rng.uniform(1, 5)))]:
        cases.append(Case("clip_by_global_norm", {"grads": [rng.normal(0, scale, s) for s in shapes],
                                                  "max_norm": max_norm}, label=label))
    big = [rng.normal(0, 5.0, s) for s in shapes]
    cases.append(paired(Case("clip_by_global_norm", {"grads": [np.zeros((2, 2)), np.zeros(3)], "max_norm": 1.0},
                             label="all zero"),                # zeros would pass alone: paired with an ordinary call
                        Case("clip_by_global_norm", {"grads": big, "max_norm": 1.0}, label="large gradients")))
    one = rng.normal(size=5)
    cases.append(Case("clip_by_global_norm", {"grads": [one], "max_norm": float(np.linalg.norm(one))},
                      label="norm exactly at the threshold"))
    return cases


def _q1_reference(case: Case) -> tuple:
    return _clip(case.kwargs["grads"], case.kwargs["max_norm"])


# ---------------------------------------------------------------- q2: pad_sequences

def _q2_public(ns: Mapping[str, Any]) -> None:
    seqs = [np.arange(6.0).reshape(3, 2), np.array([[7.0, 8.0]])]
    got = ns["pad_sequences"](seqs, -1.0)
    if not isinstance(got, tuple) or len(got) != 3:
        raise CheckFailed("return a tuple (padded, lengths, mask)")
    padded, lengths, mask = got
    expect_close("padded", padded, [[[0, 1], [2, 3], [4, 5]], [[7, 8], [-1, -1], [-1, -1]]], tol=0)
    expect_close("lengths (= [3, 1])", lengths, [3, 1], tol=0)
    if not isinstance(mask, np.ndarray) or mask.dtype != bool:
        raise CheckFailed("mask must be a boolean array (True at real steps)")
    expect_close("mask", mask, [[True, True, True], [True, False, False]], tol=0)


def _q2_cases(rng: np.random.Generator) -> list[Case]:
    def seqs(lengths, D):
        return [rng.normal(size=(int(L), D)) for L in lengths]
    cases = [Case("pad_sequences", {"seqs": seqs([10, 6], 3), "pad_value": 0.0}, label="the slides' lengths [10, 6]"),
             Case("pad_sequences", {"seqs": seqs([4, 4, 4], 2), "pad_value": 0.0}, label="all the same length"),
             Case("pad_sequences", {"seqs": seqs([1], 1), "pad_value": 5.0}, label="one sequence of one step"),
             Case("pad_sequences", {"seqs": seqs([2, 7, 1, 5], 4), "pad_value": -3.0},
                  label="unsorted lengths, a non-zero pad value")]
    cases.append(Case("pad_sequences", {"seqs": seqs(rng.integers(1, 12, size=6), 5), "pad_value": 0.0},
                      label="random lengths"))
    return cases


def _q2_reference(case: Case) -> tuple:
    return _pad(case.kwargs["seqs"], case.kwargs["pad_value"])


def _q2_compare(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
    if isinstance(got, tuple) and len(got) == 3:
        m = got[2]
        if not isinstance(m, np.ndarray) or m.dtype != bool:
            return False, "mask: expected a boolean array"
    return _named_pad(got, expected, case)


_named_pad = named_compare(("padded", "lengths", "mask"), 0.0)


# ---------------------------------------------------------------- q3: last_valid_state

def _q3_public(ns: Mapping[str, Any]) -> None:
    h = np.arange(24.0).reshape(2, 4, 3)
    got = ns["last_valid_state"](h, np.array([4, 2]))
    expect_close("last states of lengths [4, 2]", got, [[9.0, 10.0, 11.0], [15.0, 16.0, 17.0]], tol=0)


def _q3_cases(rng: np.random.Generator) -> list[Case]:
    cases = [Case("last_valid_state", {"h": rng.normal(size=(2, 10, 4)), "lengths": np.array([10, 6])},
                  label="the slides' lengths [10, 6]"),
             Case("last_valid_state", {"h": rng.normal(size=(3, 5, 2)), "lengths": np.array([1, 1, 1])},
                  label="every sequence one step long"),
             Case("last_valid_state", {"h": rng.normal(size=(1, 3, 5)), "lengths": np.array([3])},
                  label="one full-length sequence")]
    N, T = 6, 9
    cases.append(Case("last_valid_state", {"h": rng.normal(size=(N, T, 3)), "lengths": rng.integers(1, T + 1, size=N)},
                      label="random lengths"))
    return cases


def _q3_reference(case: Case) -> np.ndarray:
    return _last(case.kwargs["h"], case.kwargs["lengths"])


_Q1_PAIRS = judge_pairs(_q1_reference, named_compare(("clipped", "norm"), CLIP_TOL))

LAB = LabSpec(
    lab_id=LAB_ID,
    title="Monitoring and variable-length sequences",
    questions=(
        Question("q1", "clip_by_global_norm: clip a list of gradients by their global norm", 2,
                 ("clip_by_global_norm",), _q1_public, _q1_cases, _Q1_PAIRS[0], tol=CLIP_TOL,
                 compare=_Q1_PAIRS[1]),
        Question("q2", "pad_sequences: pad a batch, with lengths and a mask", 2, ("pad_sequences",),
                 _q2_public, _q2_cases, _q2_reference, compare=_q2_compare),
        Question("q3", "last_valid_state: the final state of each padded sequence", 2, ("last_valid_state",),
                 _q3_public, _q3_cases, _q3_reference, tol=0.0),
    ),
)
