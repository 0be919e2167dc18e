"""LSTM and GRU layers in NumPy (unit 6), in the cs231n layer style of :mod:`course_utils.rnn`.

Row-vector convention: a minibatch of N examples has one example per row. One LSTM step is

    a = x_t Wx + h_{t-1} Wh + b                      a: (N, 4H)
    i, f, g, o = sigma(a_i), sigma(a_f), tanh(a_g), sigma(a_o)   (four blocks of H columns)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

The gate blocks are in **PyTorch's order i, f, g, o**, so a ``torch.nn.LSTM`` layer maps onto these
arrays without reshuffling: ``Wx = weight_ih.T`` (D, 4H), ``Wh = weight_hh.T`` (H, 4H),
``b = bias_ih + bias_hh`` (4H,) -- see :func:`lstm_params_from_torch`. The slides' column
convention ``[i; f; o; g] = act(W [h_{t-1}; x_t])`` with W of shape (4H, 2H) is the same
computation with ``W = [Wh^T  Wx^T]`` (rows permuted to the slides' gate order) when D = H.

A GRU step (PyTorch's equations and gate order r, z, n) is

    r = sigma(x Wx_r + bx_r + h Wh_r + bh_r)
    z = sigma(x Wx_z + bx_z + h Wh_z + bh_z)
    n = tanh(x Wx_n + bx_n + r * (h Wh_n + bh_n))
    h_t = (1 - z) * n + z * h_{t-1}

with ``Wx = weight_ih.T`` (D, 3H), ``Wh = weight_hh.T`` (H, 3H) and two biases ``bx = bias_ih``,
``bh = bias_hh`` (3H,): they cannot be summed, because ``bh_n`` sits inside the reset gate.

Every ``*_forward`` returns ``(out, cache)``; the matching ``*_backward`` takes the upstream
gradients and the cache.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "sigmoid", "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
    "gru_step_forward", "gru_forward", "lstm_params_from_torch", "gru_params_from_torch",
]

LSTM_GATES = ("i", "f", "g", "o")
GRU_GATES = ("r", "z", "n")


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function (no overflow warnings for large |x|)."""
    x = np.asarray(x)
    out = np.empty_like(x, dtype=np.result_type(x, np.float32))
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _check(x: np.ndarray, prev_h: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, k: int,
           biases: dict[str, np.ndarray], prev_c: np.ndarray | None = None) -> None:
    if x.ndim != 2 or prev_h.ndim != 2 or Wx.ndim != 2 or Wh.ndim != 2:
        raise ValueError(f"expected 2-D x (N, D), prev_h (N, H), Wx (D, {k}H), Wh (H, {k}H); "
                         f"got x {x.shape}, prev_h {prev_h.shape}, Wx {Wx.shape}, Wh {Wh.shape}")
    N, D = x.shape
    H = prev_h.shape[1]
    bad = Wx.shape != (D, k * H) or Wh.shape != (H, k * H) or prev_h.shape[0] != N
    bad = bad or any(b.shape != (k * H,) for b in biases.values())
    bad = bad or (prev_c is not None and prev_c.shape != (N, H))
    if bad:
        got = ", ".join([f"x {x.shape}", f"prev_h {prev_h.shape}"] + ([f"prev_c {prev_c.shape}"] if prev_c is not None else [])
                        + [f"Wx {Wx.shape}", f"Wh {Wh.shape}"] + [f"{n} {b.shape}" for n, b in biases.items()])
        want = ", ".join(["x (N, D)", "prev_h (N, H)"] + (["prev_c (N, H)"] if prev_c is not None else [])
                         + [f"Wx (D, {k}H)", f"Wh (H, {k}H)"] + [f"{n} ({k}H,)" for n in biases])
        raise ValueError(f"shape mismatch: {got}; expected {want}")


# ---------------------------------------------------------------- LSTM

def lstm_step_forward(x: np.ndarray, prev_h: np.ndarray, prev_c: np.ndarray, Wx: np.ndarray, Wh: np.ndarray,
                      b: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
    """One LSTM step (gate order i, f, g, o as in PyTorch).

    Inputs:
    - x: (N, D) inputs at this step
    - prev_h: (N, H) previous hidden state; prev_c: (N, H) previous cell state
    - Wx: (D, 4H), Wh: (H, 4H), b: (4H,)

    Returns:
    - next_h: (N, H) = o * tanh(next_c)
    - next_c: (N, H) = f * prev_c + i * g
    - cache: what :func:`lstm_step_backward` needs (the gates are ``cache[6:10]``: i, f, g, o)
    """
    _check(x, prev_h, Wx, Wh, 4, {"b": b}, prev_c)
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H:2 * H])
    g = np.tanh(a[:, 2 * H:3 * H])
    o = sigmoid(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    tanh_c = np.tanh(next_c)
    next_h = o * tanh_c
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, b, i, f, g, o, next_c, tanh_c)


def lstm_step_backward(dnext_h: np.ndarray, dnext_c: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    """Backward pass of :func:`lstm_step_forward`.

    Inputs:
    - dnext_h, dnext_c: (N, H) upstream gradients of next_h and next_c
    - cache: from the forward pass

    Returns ``(dx, dprev_h, dprev_c, dWx, dWh, db)`` with the shapes of ``x, prev_h, prev_c, Wx, Wh, b``.
    The cell-state path ``dprev_c = dc * f`` is a plain element-wise product: no squashing, no
    weight matrix -- the "additive interaction" that lets gradients travel far.
    """
    x, prev_h, prev_c, Wx, Wh, b, i, f, g, o, next_c, tanh_c = cache
    do = dnext_h * tanh_c
    dc = dnext_c + dnext_h * o * (1.0 - tanh_c ** 2)
    df = dc * prev_c
    di = dc * g
    dg = dc * i
    dprev_c = dc * f
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)], axis=1)
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    return dx, dprev_h, dprev_c, dWx, dWh, db


def lstm_forward(x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray,
                 c0: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Run an LSTM over a whole sequence with the same weights at every step.

    Inputs:
    - x: (N, T, D) input sequences
    - h0: (N, H) initial hidden state; c0: (N, H) initial cell state (zeros when omitted)
    - Wx: (D, 4H), Wh: (H, 4H), b: (4H,)

    Returns:
    - h: (N, T, H) hidden states of all steps
    - cache: dict with ``steps`` (the T step caches) and, for inspection, ``c`` (N, T, H) cell
      states and ``gates`` {"i", "f", "g", "o": (N, T, H)}
    """
    if x.ndim != 3:
        raise ValueError(f"x must have shape (N, T, D), got {x.shape}")
    N, T, _ = x.shape
    H = h0.shape[-1]
    c0 = np.zeros_like(h0) if c0 is None else c0
    dtype = np.result_type(x, h0, Wx)
    h = np.empty((N, T, H), dtype=dtype)
    c = np.empty((N, T, H), dtype=dtype)
    gates = {k: np.empty((N, T, H), dtype=dtype) for k in LSTM_GATES}
    steps = []
    prev_h, prev_c = h0, c0
    for t in range(T):
        prev_h, prev_c, cache_t = lstm_step_forward(x[:, t, :], prev_h, prev_c, Wx, Wh, b)
        h[:, t], c[:, t] = prev_h, prev_c
        for k, v in zip(LSTM_GATES, cache_t[6:10]):
            gates[k][:, t] = v
        steps.append(cache_t)
    return h, {"steps": steps, "c": c, "gates": gates}


def lstm_backward(dh: np.ndarray, cache: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """Backpropagation through time for :func:`lstm_forward`.

    Inputs:
    - dh: (N, T, H) upstream gradients of all hidden states
    - cache: from the forward pass

    Returns ``(dx, dh0, dc0, dWx, dWh, db)``: dx (N, T, D), dh0 (N, H), dc0 (N, H), dWx (D, 4H),
    dWh (H, 4H), db (4H,).
    """
    steps = cache["steps"]
    N, T, H = dh.shape
    if len(steps) != T:
        raise ValueError(f"dh has {T} steps but the cache holds {len(steps)}")
    x0, _, _, Wx, Wh, b = steps[0][:6]
    dx = np.empty((N, T, x0.shape[1]), dtype=dh.dtype)
    dWx, dWh, db = np.zeros_like(Wx, dtype=dh.dtype), np.zeros_like(Wh, dtype=dh.dtype), np.zeros_like(b, dtype=dh.dtype)
    dprev_h = np.zeros((N, H), dtype=dh.dtype)
    dprev_c = np.zeros((N, H), dtype=dh.dtype)
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(dh[:, t] + dprev_h, dprev_c, steps[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dprev_c, dWx, dWh, db


# ---------------------------------------------------------------- GRU

def gru_step_forward(x: np.ndarray, prev_h: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, bx: np.ndarray,
                     bh: np.ndarray) -> tuple[np.ndarray, tuple]:
    """One GRU step with PyTorch's equations (gate order r, z, n).

    Inputs:
    - x: (N, D); prev_h: (N, H)
    - Wx: (D, 3H), Wh: (H, 3H); bx, bh: (3H,) input-side and hidden-side biases

    Returns:
    - next_h: (N, H) = (1 - z) * n + z * prev_h
    - cache: ``(r, z, n)`` and the inputs
    """
    _check(x, prev_h, Wx, Wh, 3, {"bx": bx, "bh": bh})
    H = prev_h.shape[1]
    ax = x @ Wx + bx
    ah = prev_h @ Wh + bh
    r = sigmoid(ax[:, :H] + ah[:, :H])
    z = sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])
    n = np.tanh(ax[:, 2 * H:] + r * ah[:, 2 * H:])
    next_h = (1.0 - z) * n + z * prev_h
    return next_h, (r, z, n, x, prev_h)


def gru_forward(x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, bx: np.ndarray,
                bh: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run a GRU over a sequence: x (N, T, D), h0 (N, H) -> h (N, T, H) and the gates {"r", "z", "n"}."""
    if x.ndim != 3:
        raise ValueError(f"x must have shape (N, T, D), got {x.shape}")
    N, T, _ = x.shape
    H = h0.shape[-1]
    dtype = np.result_type(x, h0, Wx)
    h = np.empty((N, T, H), dtype=dtype)
    gates = {k: np.empty((N, T, H), dtype=dtype) for k in GRU_GATES}
    prev_h = h0
    for t in range(T):
        prev_h, cache_t = gru_step_forward(x[:, t], prev_h, Wx, Wh, bx, bh)
        h[:, t] = prev_h
        for k, v in zip(GRU_GATES, cache_t[:3]):
            gates[k][:, t] = v
    return h, gates


# ---------------------------------------------------------------- PyTorch weights

def _layer0(module: Any, name: str) -> np.ndarray:
    p = getattr(module, f"{name}_l0", None)
    if p is None:
        raise ValueError(f"{type(module).__name__} has no {name}_l0 (needs bias=True and one direction)")
    return p.detach().cpu().numpy()


def lstm_params_from_torch(module: Any) -> dict[str, np.ndarray]:
    """The first layer of a ``torch.nn.LSTM`` as ``{"Wx" (D, 4H), "Wh" (H, 4H), "b" (4H,)}`` (same dtype)."""
    if getattr(module, "proj_size", 0):
        raise ValueError("LSTMs with proj_size are not supported")
    return {"Wx": _layer0(module, "weight_ih").T.copy(), "Wh": _layer0(module, "weight_hh").T.copy(),
            "b": _layer0(module, "bias_ih") + _layer0(module, "bias_hh")}


def gru_params_from_torch(module: Any) -> dict[str, np.ndarray]:
    """The first layer of a ``torch.nn.GRU`` as ``{"Wx" (D, 3H), "Wh" (H, 3H), "bx", "bh" (3H,)}``."""
    return {"Wx": _layer0(module, "weight_ih").T.copy(), "Wh": _layer0(module, "weight_hh").T.copy(),
            "bx": _layer0(module, "bias_ih").copy(), "bh": _layer0(module, "bias_hh").copy()}
