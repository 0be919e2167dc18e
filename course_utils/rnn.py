"""Vanilla RNN layers in NumPy (unit 3), written in the cs231n layer style.

Row-vector convention: a minibatch of N examples is a matrix with one example per row, so a step is

    h_t = tanh(x_t Wx + h_{t-1} Wh + b)

which is the lecture's ``h_t = tanh(W_hh h_{t-1} + W_xh x_t + b)`` with ``Wx = W_xh^T`` and
``Wh = W_hh^T``. Every ``*_forward`` returns ``(out, cache)``; the matching ``*_backward`` takes the
upstream gradient and the cache.

The "hello" character model of the lecture (column-vector convention, vocabulary [h, e, l, o])
is at the end of the module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
    "birnn_forward", "birnn_backward",
    "temporal_affine_forward", "temporal_affine_backward", "temporal_softmax_loss",
    "HELLO_VOCAB", "hello_params", "hello_forward",
]


def _check_shapes(x: np.ndarray, prev_h: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray) -> None:
    N, D = x.shape
    H = Wh.shape[0]
    if Wx.shape != (D, H) or Wh.shape != (H, H) or b.shape != (H,) or prev_h.shape != (N, H):
        raise ValueError(
            f"shape mismatch: x {x.shape}, prev_h {prev_h.shape}, Wx {Wx.shape}, Wh {Wh.shape}, b {b.shape}; "
            f"expected x (N, D), prev_h (N, H), Wx (D, H), Wh (H, H), b (H,)")


def rnn_step_forward(x: np.ndarray, prev_h: np.ndarray, Wx: np.ndarray, Wh: np.ndarray,
                     b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """One time step of a vanilla RNN with tanh.

    Inputs:
    - x: (N, D) inputs at this step
    - prev_h: (N, H) hidden state of the previous step
    - Wx: (D, H) input-to-hidden weights
    - Wh: (H, H) hidden-to-hidden weights
    - b: (H,) bias

    Returns:
    - next_h: (N, H) = tanh(x Wx + prev_h Wh + b)
    - cache: what the backward pass needs
    """
    _check_shapes(x, prev_h, Wx, Wh, b)
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    """Backward pass of :func:`rnn_step_forward`.

    Inputs:
    - dnext_h: (N, H) gradient of the loss with respect to next_h
    - cache: from the forward pass

    Returns ``(dx, dprev_h, dWx, dWh, db)`` with the shapes of ``x, prev_h, Wx, Wh, b``.
    Uses tanh'(a) = 1 - tanh(a)^2 = 1 - next_h^2.
    """
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1.0 - next_h ** 2)          # through the tanh
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    return dx, dprev_h, dWx, dWh, db


def rnn_forward(x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray,
                b: np.ndarray) -> tuple[np.ndarray, list]:
    """Run a vanilla RNN over a whole sequence, with the same weights at every step.

    Inputs:
    - x: (N, T, D) input sequences
    - h0: (N, H) initial hidden state
    - Wx: (D, H), Wh: (H, H), b: (H,)

    Returns:
    - h: (N, T, H) hidden states of all steps (h[:, t] is h_{t+1} in 1-based notation)
    - cache: list of the T step caches
    """
    if x.ndim != 3:
        raise ValueError(f"x must have shape (N, T, D), got {x.shape}")
    N, T, _ = x.shape
    H = h0.shape[1]
    h = np.empty((N, T, H), dtype=np.result_type(x, h0, Wx))
    caches = []
    prev_h = h0
    for t in range(T):
        prev_h, cache_t = rnn_step_forward(x[:, t, :], prev_h, Wx, Wh, b)
        h[:, t, :] = prev_h
        caches.append(cache_t)
    return h, caches


def rnn_backward(dh: np.ndarray, cache: list) -> tuple[np.ndarray, ...]:
    """Backpropagation through time for :func:`rnn_forward`.

    Inputs:
    - dh: (N, T, H) upstream gradients of *all* hidden states (e.g. from a per-step output layer)
    - cache: from the forward pass

    Returns ``(dx, dh0, dWx, dWh, db)``: dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,).
    The weight gradients are summed over time, because the same weights act at every step.
    """
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx = np.empty((N, T, D), dtype=dh.dtype)
    dWx = np.zeros((D, H), dtype=dh.dtype)
    dWh = np.zeros((H, H), dtype=dh.dtype)
    db = np.zeros(H, dtype=dh.dtype)
    dprev_h = np.zeros((N, H), dtype=dh.dtype)
    for t in reversed(range(T)):
        # h_t receives gradient from its own output and from step t+1
        dx[:, t, :], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + dprev_h, cache[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db


def birnn_forward(x: np.ndarray, h0_fwd: np.ndarray, h0_bwd: np.ndarray,
                  params_fwd: dict[str, np.ndarray], params_bwd: dict[str, np.ndarray]) -> tuple[np.ndarray, tuple]:
    """A bidirectional RNN layer: one RNN reads left to right, another right to left.

    Inputs:
    - x: (N, T, D)
    - h0_fwd, h0_bwd: (N, H) initial states of the two directions
    - params_fwd, params_bwd: dicts with keys ``Wx`` (D, H), ``Wh`` (H, H), ``b`` (H,)

    Returns:
    - h: (N, T, 2H); ``h[:, t, :H]`` summarises x_0..x_t, ``h[:, t, H:]`` summarises x_t..x_{T-1}
    - cache
    """
    h_f, cache_f = rnn_forward(x, h0_fwd, params_fwd["Wx"], params_fwd["Wh"], params_fwd["b"])
    h_b_rev, cache_b = rnn_forward(x[:, ::-1, :], h0_bwd, params_bwd["Wx"], params_bwd["Wh"], params_bwd["b"])
    h = np.concatenate([h_f, h_b_rev[:, ::-1, :]], axis=2)
    return h, (cache_f, cache_b)


def birnn_backward(dh: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict, dict]:
    """Backward pass of :func:`birnn_forward`.

    Returns ``(dx, dh0_fwd, dh0_bwd, grads_fwd, grads_bwd)``; grads dicts have keys Wx, Wh, b.
    """
    cache_f, cache_b = cache
    H = dh.shape[2] // 2
    dx_f, dh0_f, dWx_f, dWh_f, db_f = rnn_backward(dh[:, :, :H], cache_f)
    dx_b_rev, dh0_b, dWx_b, dWh_b, db_b = rnn_backward(dh[:, ::-1, H:], cache_b)
    dx = dx_f + dx_b_rev[:, ::-1, :]
    return dx, dh0_f, dh0_b, {"Wx": dWx_f, "Wh": dWh_f, "b": db_f}, {"Wx": dWx_b, "Wh": dWh_b, "b": db_b}


def temporal_affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """The same affine map at every time step: out[:, t] = x[:, t] w + b.

    Inputs: x (N, T, D), w (D, M), b (M,). Returns out (N, T, M) and a cache.
    """
    out = x @ w + b
    return out, (x, w)


def temporal_affine_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`temporal_affine_forward`: returns dx (N, T, D), dw (D, M), db (M,)."""
    x, w = cache
    N, T, D = x.shape
    M = w.shape[1]
    dx = dout @ w.T
    dw = x.reshape(N * T, D).T @ dout.reshape(N * T, M)
    db = dout.sum(axis=(0, 1))
    return dx, dw, db


def temporal_softmax_loss(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy summed over time steps and averaged over the minibatch.

    Inputs:
    - x: (N, T, V) scores
    - y: (N, T) integer targets in 0..V-1
    - mask: (N, T) booleans; False marks padding (e.g. ``<NULL>``) that must not count

    Returns ``(loss, dx)`` with dx (N, T, V). With uniform scores over V classes the loss is T ln V.
    """
    N, T, V = x.shape
    if y.shape != (N, T):
        raise ValueError(f"y must have shape {(N, T)}, got {y.shape}")
    mask = np.ones((N, T), dtype=bool) if mask is None else mask.astype(bool)
    flat = x.reshape(N * T, V)
    shifted = flat - flat.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    yf, mf = y.reshape(N * T), mask.reshape(N * T)
    loss = -np.sum(mf * log_probs[np.arange(N * T), yf]) / N
    dflat = np.exp(log_probs)
    dflat[np.arange(N * T), yf] -= 1           # p - onehot
    dflat *= mf[:, None] / N
    return float(loss), dflat.reshape(N, T, V)


# ----------------------------------------------------------------------------------------------
# The "hello" model: column vectors as on the slides, W_xh (3, 4), W_hh (3, 3), W_hy (4, 3)
# ----------------------------------------------------------------------------------------------

HELLO_VOCAB: tuple[str, ...] = ("h", "e", "l", "o")


def hello_params(seed: int = 0, hidden: int = 3, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Random parameters of the "hello" model: W_xh (H, 4), W_hh (H, H), W_hy (4, H), b_h (H,), b_y (4,)."""
    rng = np.random.default_rng(seed)
    V = len(HELLO_VOCAB)
    return {"W_xh": rng.normal(0, scale, (hidden, V)), "W_hh": rng.normal(0, scale, (hidden, hidden)),
            "W_hy": rng.normal(0, scale, (V, hidden)), "b_h": np.zeros(hidden), "b_y": np.zeros(V)}


def hello_forward(params: dict[str, np.ndarray], text: str = "hello",
                  h0: np.ndarray | None = None) -> dict[str, Any]:
    """Run the character model on ``text[:-1]`` predicting ``text[1:]`` (vocabulary h, e, l, o).

    For each step t:  h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h),  y_t = W_hy h_t + b_y,
    p_t = softmax(y_t), loss_t = -ln p_t[target_t].

    Returns a dict with ``xs`` (T, 4) one-hot inputs, ``hs`` (T, H), ``ys`` (T, 4) scores,
    ``ps`` (T, 4) probabilities, ``targets`` (T,), ``losses`` (T,) and ``loss`` (their sum).
    """
    unknown = sorted(set(text) - set(HELLO_VOCAB))
    if unknown:
        raise ValueError(f"the hello model only knows {list(HELLO_VOCAB)}; got {unknown}")
    if len(text) < 2:
        raise ValueError("text needs at least two characters (one input, one target)")
    idx = np.array([HELLO_VOCAB.index(c) for c in text])
    inputs, targets = idx[:-1], idx[1:]
    T, V = len(inputs), len(HELLO_VOCAB)
    H = params["W_hh"].shape[0]
    xs = np.eye(V)[inputs]
    h = np.zeros(H) if h0 is None else np.asarray(h0, dtype=np.float64)
    hs, ys = np.zeros((T, H)), np.zeros((T, V))
    for t in range(T):
        h = np.tanh(params["W_hh"] @ h + params["W_xh"] @ xs[t] + params["b_h"])
        hs[t] = h
        ys[t] = params["W_hy"] @ h + params["b_y"]
    shifted = ys - ys.max(axis=1, keepdims=True)
    ps = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    losses = -np.log(ps[np.arange(T), targets])
    return {"xs": xs, "hs": hs, "ys": ys, "ps": ps, "targets": targets, "losses": losses,
            "loss": float(losses.sum())}
