"""How far back does a gradient reach? (unit 6: vanilla RNN vs LSTM.)

:func:`state_gradient_norms` runs a ``torch.nn.RNNCell``, ``LSTMCell`` or ``GRUCell`` over a sequence,
puts a linear loss ``L = <u, h_T>`` on the last hidden state and returns, by autograd, the norms of
``dL/dh_k`` (and ``dL/dc_k`` for an LSTM) for every step k, indexed by the distance ``T - k``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["state_gradient_norms", "decay_per_step"]


def state_gradient_norms(cell: nn.Module, x: torch.Tensor, u: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    """Gradient norms of ``L = <u, h_T>`` with respect to every state, by distance from the end.

    Inputs:
    - cell: ``nn.RNNCell``, ``nn.GRUCell`` or ``nn.LSTMCell`` (input size D, hidden size H)
    - x: (T, N, D) inputs; states start at zero
    - u: (N, H) read-out direction (default: all ones / sqrt(N H))

    Returns ``{"h": (T,), "c": (T,)}`` (``"c"`` for an LSTM only): entry ``d`` is
    ``||dL/dh_{T-d}||`` (Frobenius over the batch), so entry 0 is the last step itself.
    """
    if x.ndim != 3:
        raise ValueError(f"x must have shape (T, N, D), got {tuple(x.shape)}")
    T, N, _ = x.shape
    H = cell.hidden_size
    u = torch.full((N, H), 1.0 / np.sqrt(N * H), dtype=x.dtype) if u is None else u
    is_lstm = isinstance(cell, nn.LSTMCell)
    h = torch.zeros(N, H, dtype=x.dtype)
    c = torch.zeros(N, H, dtype=x.dtype)
    hs, cs = [], []
    for t in range(T):
        if is_lstm:
            h, c = cell(x[t], (h, c))
            c.retain_grad()
            cs.append(c)
        else:
            h = cell(x[t], h)
        h.retain_grad()
        hs.append(h)
    (h * u).sum().backward()
    out = {"h": np.array([float(v.grad.norm()) for v in reversed(hs)])}
    if is_lstm:
        out["c"] = np.array([float(v.grad.norm()) for v in reversed(cs)])
    return out


def decay_per_step(norms: np.ndarray, start: int = 10, stop: int | None = None) -> float:
    """Geometric-mean factor by which ``norms`` shrink per step between distances ``start`` and ``stop``."""
    stop = len(norms) - 1 if stop is None else stop
    if not 0 <= start < stop < len(norms):
        raise ValueError(f"need 0 <= start < stop < {len(norms)}, got {start}, {stop}")
    return float((norms[stop] / norms[start]) ** (1.0 / (stop - start)))
