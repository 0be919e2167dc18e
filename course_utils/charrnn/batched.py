"""min-char-rnn for B sequences at once: the same maths as :mod:`.minchar`, vectorised.

Same parameters (and shapes) as the faithful port; states become rows: h_t is (B, H).
What makes it fast:

* ``Wxh @ onehot(x)`` is a column lookup, ``Wxh[:, x].T`` -- no one-hot matrix is built;
* only the recurrence ``h_t = tanh(... + h_{t-1} Whh^T)`` and its backward pass loop over time;
  the output layer, softmax, loss and all weight gradients are single matrix products over
  all B*T positions;
* it works in float32 or float64 (the dtype of the parameters).

The loss is the faithful one averaged over the batch: ``L = (1/B) sum_b sum_t -log p[b, t, y[b, t]]``,
so with B = 1 loss and gradients equal :func:`.minchar.loss_fun` up to rounding.
"""

from __future__ import annotations

import numpy as np

from .clipping import clip_by_value
from .minchar import PARAM_NAMES, Params

__all__ = ["loss_fun_batched", "forward_logits", "evaluate_loss", "cast_params"]


def cast_params(params: Params, dtype: np.dtype | type | str) -> Params:
    """Copies of the parameters in ``dtype`` (``float32`` or ``float64``)."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return {k: np.array(params[k], dtype=dtype) for k in PARAM_NAMES}


def _check_batch(X: np.ndarray, h0: np.ndarray, params: Params) -> tuple[int, int, int, int]:
    H, V = params["Wxh"].shape
    if X.ndim != 2 or X.shape[1] == 0:
        raise ValueError(f"inputs must have shape (B, T) with T >= 1, got {X.shape}")
    B, T = X.shape
    if h0.shape != (B, H):
        raise ValueError(f"h0 must have shape (B, H) = {(B, H)}, got {h0.shape}")
    if X.dtype.kind not in "iu" or X.min() < 0 or X.max() >= V:
        raise ValueError(f"inputs must be integer ids in 0..{V - 1}")
    return B, T, H, V


def _recurrence(X: np.ndarray, h0: np.ndarray, params: Params) -> np.ndarray:
    """Hidden states h_1..h_T, time-major: shape (T, B, H) (each step's slice is contiguous)."""
    Wxh, Whh, bh = params["Wxh"], params["Whh"], params["bh"]
    B, T = X.shape
    WxhT = np.ascontiguousarray(Wxh.T)    # (V, H): row v is Wxh @ onehot(v)
    xin = WxhT[X.T] + bh.T                # (T, B, H): Wxh x_t + bh for every position at once
    WhhT = np.ascontiguousarray(Whh.T)
    hs = np.empty_like(xin)
    h = h0
    for t in range(T):
        h = hs[t] = np.tanh(xin[t] + h @ WhhT)
    return hs


def forward_logits(X: np.ndarray, h0: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
    """Forward only. Inputs: X (B, T) ids, h0 (B, H). Returns ``(logits (B, T, V), hs (B, T, H))``."""
    X = np.asarray(X)
    B, T, H, V = _check_batch(X, h0, params)
    hs = _recurrence(X, h0, params).transpose(1, 0, 2)
    logits = hs.reshape(B * T, H) @ params["Why"].T + params["by"].T
    return logits.reshape(B, T, V), hs


def loss_fun_batched(X: np.ndarray, Y: np.ndarray, h0: np.ndarray, params: Params,
                     clip: float | None = 5.0) -> tuple[float, Params, np.ndarray]:
    """Loss and gradients for a batch of sequences.

    Inputs:
    - X, Y: (B, T) integer ids; Y[b, t] is the character after X[b, t]
    - h0: (B, H) hidden states before the first step
    - params: as :func:`.minchar.init_params` (float32 or float64)
    - clip: element-wise gradient clip, as the faithful version; ``None`` for exact gradients

    Returns ``(loss, grads, h_last)``: per-sequence summed cross-entropy averaged over the batch,
    gradients keyed ``dWxh ... dby`` (parameter shapes), and h_T (B, H).
    """
    X, Y = np.asarray(X), np.asarray(Y)
    B, T, H, V = _check_batch(X, h0, params)
    if Y.shape != X.shape or Y.dtype.kind not in "iu" or Y.min() < 0 or Y.max() >= V:
        raise ValueError(f"targets must be integer ids in 0..{V - 1} with the inputs' shape {X.shape}")
    Whh, Why = params["Whh"], params["Why"]
    dtype = Why.dtype
    N = T * B                                                     # positions, time-major: row t*B + b

    # forward
    hs = _recurrence(X, h0, params)                               # (T, B, H)
    hs2 = hs.reshape(N, H)
    logits = hs2 @ Why.T + params["by"].T                         # (N, V)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    p = e / e.sum(axis=1, keepdims=True)                          # softmax
    rows, y = np.arange(N), Y.T.ravel()
    loss = -np.log(p[rows, y]).sum(dtype=np.float64) / B

    # backward: output layer for all positions at once
    dy = p
    dy[rows, y] -= 1                                              # p - onehot(target)
    dy /= B
    dWhy = dy.T @ hs2                                             # sum over b, t of dy h^T
    dby = dy.sum(axis=0)[:, None]
    dh_out = (dy @ Why).reshape(T, B, H)
    # backward through time: only the recurrence is sequential
    dhraw = np.empty_like(hs)
    dhnext = np.zeros((B, H), dtype=dtype)
    for t in reversed(range(T)):
        dhraw[t] = (1 - hs[t] * hs[t]) * (dh_out[t] + dhnext)    # through tanh
        dhnext = dhraw[t] @ Whh                                   # to the previous step
    dhraw2 = dhraw.reshape(N, H)
    hprev = np.concatenate([h0[None], hs[:-1]]).reshape(N, H)
    dWhh = dhraw2.T @ hprev
    dbh = dhraw2.sum(axis=0)[:, None]
    onehot = np.zeros((N, V), dtype=dtype)
    onehot[rows, X.T.ravel()] = 1
    dWxh = dhraw2.T @ onehot                                      # sum over b, t of dhraw x^T
    grads = {"dWxh": dWxh, "dWhh": dWhh, "dWhy": dWhy, "dbh": dbh, "dby": dby}
    if clip is not None:
        clip_by_value(grads, clip)
    return float(loss), grads, hs[-1].copy()


def evaluate_loss(params: Params, ids: np.ndarray, n_streams: int = 64, chunk: int = 100) -> float:
    """Mean cross-entropy in nats per character of the whole id sequence ``ids`` (N,).

    The text is cut into ``n_streams`` contiguous pieces read in parallel, each from a zero state
    with the state carried across chunks (the model sees all earlier text of its piece).
    Divide by ln 2 for bits per character; multiply by 25 to compare with min-char-rnn's smooth loss.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.size < 2:
        raise ValueError(f"need a 1-D sequence of at least 2 ids to evaluate, got shape {ids.shape}")
    n_streams = max(1, min(n_streams, (ids.size - 1) // 2))
    L = (ids.size - 1) // n_streams
    starts = np.arange(n_streams) * L
    H = params["Whh"].shape[0]
    h = np.zeros((n_streams, H), dtype=params["Whh"].dtype)
    total, count = 0.0, 0
    for p in range(0, L, chunk):
        idx = starts[:, None] + np.arange(p, min(p + chunk, L))[None, :]
        X, Y = ids[idx], ids[idx + 1]
        logits, hs = forward_logits(X, h, params)
        logits = logits.astype(np.float64)
        logits -= logits.max(axis=2, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))
        total -= np.take_along_axis(logp, Y[..., None], axis=2).sum()
        count += Y.size
        h = hs[:, -1]
    return float(total / count)
