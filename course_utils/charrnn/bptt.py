"""Backpropagation through time: full vs truncated, and how gradients grow or die along the way.

The generic RNN here is unit 3's (:mod:`course_utils.rnn`, row-vector convention)::

    h_t = tanh(x_t Wx + h_{t-1} Wh + b)      x (N, T, D), h (N, T, H), Wx (D, H), Wh (H, H), b (H,)

* :func:`bptt_backward` -- BPTT from plain arrays (the forward states instead of a cache)
* :func:`truncated_bptt` -- carry the hidden state forward forever, backpropagate only k steps
* :func:`truncated_loss_fun` -- the same for min-char-rnn's loss (its main loop is TBPTT with k = 25)
* :func:`jacobian_norms` -- ||dh_T / dh_k|| against T - k, the exploding/vanishing picture
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import rnn
from .minchar import PARAM_NAMES, Params, loss_fun

__all__ = ["bptt_backward", "truncated_bptt", "truncated_loss_fun", "scale_to_spectral_radius",
           "spectral_radius", "jacobian_norms"]


def bptt_backward(dh: np.ndarray, x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray,
                  h: np.ndarray) -> tuple[np.ndarray, ...]:
    """Backpropagation through time given the forward pass's hidden states.

    Inputs:
    - dh: (N, T, H) gradient of the loss with respect to every hidden state (from the outputs)
    - x: (N, T, D) inputs; h0: (N, H) initial state; Wx (D, H); Wh (H, H)
    - h: (N, T, H) hidden states computed by the forward pass

    Returns ``(dx, dh0, dWx, dWh, db)`` with shapes (N, T, D), (N, H), (D, H), (H, H), (H,).
    """
    if dh.shape != h.shape or x.shape[:2] != h.shape[:2]:
        raise ValueError(f"dh {dh.shape}, h {h.shape} and x {x.shape} must agree on (N, T[, H])")
    prev = np.concatenate([h0[:, None, :], h[:, :-1, :]], axis=1)
    cache = [(x[:, t], prev[:, t], Wx, Wh, h[:, t]) for t in range(h.shape[1])]
    return rnn.rnn_backward(dh, cache)


def truncated_bptt(x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray,
                   dh: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Truncated BPTT over chunks of ``k`` steps for the loss ``L = sum_t <dh_t, h_t>``.

    The linear loss makes ``dh`` (N, T, H) exactly the gradient of L with respect to each h_t, so any
    per-step output layer can be plugged in through it. The sequence is cut into chunks of k steps
    (the last may be shorter); each chunk starts from the previous chunk's final state, *treated as
    a constant*: no gradient flows back across a chunk boundary.

    Returns ``(dWx, dWh, db, h_last)``: parameter gradients summed over chunks, and (N, H) h_T.
    With ``k >= T`` this is full BPTT.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    N, T, _ = x.shape
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    h_carry = h0
    for s in range(0, T, k):
        h_chunk, cache = rnn.rnn_forward(x[:, s:s + k], h_carry, Wx, Wh, b)
        _, _, dWx_c, dWh_c, db_c = rnn.rnn_backward(dh[:, s:s + k], cache)   # dh into h_carry is dropped
        dWx += dWx_c
        dWh += dWh_c
        db += db_c
        h_carry = h_chunk[:, -1]
    return dWx, dWh, db, h_carry


def truncated_loss_fun(inputs: Sequence[int], targets: Sequence[int], hprev: np.ndarray, params: Params,
                       k: int, clip: float | None = None) -> tuple[float, Params, np.ndarray]:
    """min-char-rnn's loss over a long text with BPTT truncated to chunks of ``k`` characters.

    The loss is exactly the full loss (the forward pass carries the state through), the gradients
    are summed over chunks and ignore dependencies longer than a chunk. Same returns as
    :func:`.minchar.loss_fun`; ``k >= len(inputs)`` gives full BPTT.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    total = 0.0
    grads = {"d" + n: np.zeros_like(params[n]) for n in PARAM_NAMES}
    h = hprev
    for s in range(0, len(inputs), k):
        loss, g, h = loss_fun(inputs[s:s + k], targets[s:s + k], h, params, clip=clip)
        total += loss
        for name in grads:
            grads[name] += g[name]
    return total, grads, h


def spectral_radius(W: np.ndarray) -> float:
    """Largest absolute eigenvalue of a square matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(W))))


def scale_to_spectral_radius(W: np.ndarray, rho: float) -> np.ndarray:
    """``W`` rescaled so that its spectral radius is ``rho``."""
    return W * (rho / spectral_radius(W))


def jacobian_norms(Wh: np.ndarray, T: int, Wx: np.ndarray | None = None, x: np.ndarray | None = None,
                   b: np.ndarray | None = None, h0: np.ndarray | None = None,
                   activation: str = "tanh") -> np.ndarray:
    """Spectral norms of ``dh_T / dh_k`` for ``k = T, T-1, ..., 0`` (index = distance T - k).

    One sequence (row-vector convention). Each step contributes the Jacobian
    ``dh_t / dh_{t-1} = diag(1 - h_t^2) Wh^T`` (tanh) or ``Wh^T`` (``activation="linear"``), so

        dh_T / dh_k = prod_{t=k+1}^{T} diag(1 - h_t^2) Wh^T

    shrinks or grows roughly like rho^(T-k) for spectral radius rho, and tanh saturation only shrinks it.

    Inputs: Wh (H, H); optional Wx (D, H), x (T, D), b (H,), h0 (H,) drive the states (zeros by default).
    Returns (T + 1,) norms; entry 0 is ||I|| = 1.
    """
    if activation not in ("tanh", "linear"):
        raise ValueError(f"activation must be 'tanh' or 'linear', got {activation!r}")
    H = Wh.shape[0]
    h = np.zeros(H) if h0 is None else h0
    drive = np.zeros((T, H)) if x is None else x @ Wx
    if b is not None:
        drive = drive + b
    hs = []
    for t in range(T):                                    # forward: the states the Jacobians depend on
        a = drive[t] + h @ Wh
        h = np.tanh(a) if activation == "tanh" else a
        hs.append(h)
    norms = np.empty(T + 1)
    J = np.eye(H)                                         # dh_T / dh_T
    norms[0] = 1.0
    for d in range(1, T + 1):                             # extend the product one step further back
        t = T - d                                         # J becomes dh_T / dh_t (0-based h_t = hs[t-1])
        step = Wh.T if activation == "linear" else (1 - hs[t] ** 2)[:, None] * Wh.T
        J = J @ step
        norms[d] = np.linalg.norm(J, 2)
    return norms
