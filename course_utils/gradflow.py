"""How far back does a gradient reach, and what happens when it explodes? (units 5, 6 and 8.)

:func:`state_gradient_norms` runs a ``torch.nn.RNNCell``, ``LSTMCell`` or ``GRUCell`` over a sequence,
puts a linear loss ``L = <u, h_T>`` on the last hidden state and returns, by autograd, the norms of
``dL/dh_k`` (and ``dL/dc_k`` for an LSTM) for every step k, indexed by the distance ``T - k``.

:func:`clipping_run` trains a tanh RNN classifier with plain SGD, optionally clipping the gradient by
its global norm, and records the loss and the norm *before* clipping at every step: the experiment
behind "clipping guards against exploding gradients" (units 5 and 8).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

__all__ = ["state_gradient_norms", "decay_per_step", "clipping_run"]


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


def clipping_run(X: torch.Tensor, y: torch.Tensor, *, clip: float | None, lr: float, steps: int,
                 hidden: int = 64, batch: int = 64, seed: int = 0, rho: float | None = None,
                 callback: Callable[[int, nn.Module, float, float], None] | None = None) -> dict[str, np.ndarray]:
    """Train a tanh RNN classifier (:class:`~course_utils.sequence_models.RowRNNClassifier`, ``cell="rnn"``)
    with plain SGD on random minibatches, clipping by global norm when ``clip`` is a number.

    Inputs:
    - X: (N, T, D) float sequences, y: (N,) int64 labels (CPU tensors)
    - clip: the threshold c of ``torch.nn.utils.clip_grad_norm_``, or ``None`` for no clipping
    - lr, steps, hidden, batch, seed: SGD step size, number of steps, hidden units H, minibatch size, seed
      (the same seed gives the same initial weights and minibatches, with or without clipping)
    - rho: when set, the recurrent matrix starts as a random orthogonal matrix times ``rho`` (all its
      eigenvalues have modulus rho: rho > 1 is the exploding regime of unit 5)
    - callback: called as ``callback(step, model, loss, norm_before_clipping)`` after every step

    Returns ``{"loss": (steps,), "grad_norm": (steps,)}``: the minibatch loss (nats) and the global
    gradient norm before clipping at every step (non-finite once training has diverged).
    """
    from .sequence_models import RowRNNClassifier

    if X.ndim != 3 or y.shape != (X.shape[0],):
        raise ValueError(f"need X (N, T, D) and y (N,), got {tuple(X.shape)} and {tuple(y.shape)}")
    if clip is not None and not clip > 0:
        raise ValueError(f"clip must be a positive number or None, got {clip!r}")
    torch.manual_seed(seed)
    model = RowRNNClassifier(X.shape[2], hidden, int(y.max()) + 1, cell="rnn")
    if rho is not None:
        with torch.no_grad():
            q, _ = torch.linalg.qr(torch.randn(hidden, hidden))
            model.rnn.weight_hh_l0.copy_(q * rho)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    losses, norms = np.empty(steps), np.empty(steps)
    for i in range(steps):
        idx = torch.randint(len(X), (batch,), generator=order)
        loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        norm = float(nn.utils.clip_grad_norm_(model.parameters(), clip if clip is not None else float("inf")))
        opt.step()
        losses[i], norms[i] = float(loss.detach()), norm
        if callback is not None:
            callback(i, model, losses[i], norm)
    return {"loss": losses, "grad_norm": norms}
