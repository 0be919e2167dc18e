"""min-char-rnn: a character-level vanilla RNN in plain NumPy, one sequence at a time.

A faithful Python 3 port of the algorithm of Karpathy's 112-line ``min-char-rnn.py`` (same
hyperparameters, same update order), written to read like the maths. Column-vector convention,
as in the original: a hidden state is an (H, 1) array, a one-hot input a (V, 1) array.

Model, for t = 1..T (x_t one-hot, h_0 = hprev)::

    h_t = tanh(Wxh x_t + Whh h_{t-1} + bh)        (H, 1)
    y_t = Why h_t + by                             (V, 1)   unnormalised log-probabilities
    p_t = softmax(y_t)                             (V, 1)
    L   = sum_t -log p_t[target_t]                 scalar (summed, not averaged, over the T steps)

Parameter shapes (H hidden units, V characters)::

    Wxh (H, V)   Whh (H, H)   Why (V, H)   bh (H, 1)   by (V, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .clipping import clip_by_value

__all__ = ["PARAM_NAMES", "Hyperparameters", "init_params", "loss_fun", "sample", "prime_and_sample", "adagrad_update",
           "initial_smooth_loss", "update_smooth_loss"]

Params = dict[str, np.ndarray]

#: The order in which the original program lists (and updates) its parameters.
PARAM_NAMES: tuple[str, ...] = ("Wxh", "Whh", "Why", "bh", "by")


@dataclass(frozen=True)
class Hyperparameters:
    """The original program's settings (all of them are defaults here)."""
    hidden_size: int = 100        # size of the hidden layer
    seq_length: int = 25          # number of steps to unroll the RNN for
    learning_rate: float = 0.1    # Adagrad step size
    init_scale: float = 0.01      # weights ~ N(0, 1) * init_scale, biases 0
    adagrad_eps: float = 1e-8     # inside the square root of Adagrad's denominator
    clip: float | None = 5.0      # element-wise gradient clip to [-clip, clip]
    smooth_decay: float = 0.999   # smooth_loss = decay * smooth_loss + (1 - decay) * loss
    sample_every: int = 100       # iterations between samples
    sample_length: int = 200      # characters per sample


def init_params(vocab_size: int, hidden_size: int = 100, rng: np.random.Generator | None = None,
                scale: float = 0.01, dtype: np.dtype | type = np.float64) -> Params:
    """Random weights ``N(0,1) * scale`` and zero biases, drawn in the original's order.

    Returns a dict with ``Wxh`` (H, V), ``Whh`` (H, H), ``Why`` (V, H), ``bh`` (H, 1), ``by`` (V, 1).
    """
    if vocab_size < 1 or hidden_size < 1:
        raise ValueError(f"vocab_size and hidden_size must be positive, got {vocab_size} and {hidden_size}")
    rng = rng if rng is not None else np.random.default_rng(0)
    H, V = hidden_size, vocab_size
    params = {
        "Wxh": rng.standard_normal((H, V)) * scale,   # input to hidden
        "Whh": rng.standard_normal((H, H)) * scale,   # hidden to hidden
        "Why": rng.standard_normal((V, H)) * scale,   # hidden to output
        "bh": np.zeros((H, 1)),                       # hidden bias
        "by": np.zeros((V, 1)),                       # output bias
    }
    return {k: v.astype(dtype) for k, v in params.items()}


def _check_ids(ids: Sequence[int] | np.ndarray, vocab_size: int, what: str) -> None:
    a = np.asarray(ids)
    if a.size and (a.dtype.kind not in "iu" or a.min() < 0 or a.max() >= vocab_size):
        raise ValueError(f"{what} must be integer ids in 0..{vocab_size - 1}, got "
                         f"{a.dtype} values in {a.min()}..{a.max()}")


def loss_fun(inputs: Sequence[int], targets: Sequence[int], hprev: np.ndarray, params: Params,
             clip: float | None = 5.0) -> tuple[float, Params, np.ndarray]:
    """Forward T steps, then backpropagate through time.

    Inputs:
    - inputs, targets: T integer character ids each (targets[t] is the character after inputs[t])
    - hprev: (H, 1) hidden state before the first step
    - params: see :func:`init_params`
    - clip: clip every gradient entry to [-clip, clip] as the original does; ``None`` for exact gradients

    Returns ``(loss, grads, h_last)``: the summed cross-entropy (a float), gradients keyed
    ``dWxh, dWhh, dWhy, dbh, dby`` with the parameters' shapes, and h_T (H, 1).
    """
    Wxh, Whh, Why, bh, by = (params[k] for k in PARAM_NAMES)
    H, V = Wxh.shape
    if len(inputs) != len(targets) or len(inputs) == 0:
        raise ValueError(f"need as many targets as inputs (at least one), got {len(inputs)} and {len(targets)}")
    _check_ids(inputs, V, "inputs")
    _check_ids(targets, V, "targets")
    if hprev.shape != (H, 1):
        raise ValueError(f"hprev must have shape {(H, 1)}, got {hprev.shape}")

    xs, hs, ps = {}, {-1: np.copy(hprev)}, {}
    loss = 0.0
    # forward pass
    for t, (ix, target) in enumerate(zip(inputs, targets)):
        xs[t] = np.zeros((V, 1), dtype=Wxh.dtype)
        xs[t][ix] = 1                                               # one-hot input
        hs[t] = np.tanh(Wxh @ xs[t] + Whh @ hs[t - 1] + bh)         # hidden state
        ys = Why @ hs[t] + by                                       # unnormalised log-probs
        e = np.exp(ys - ys.max())                                   # (shifting by max: same softmax,
        ps[t] = e / e.sum()                                         #  no overflow) probabilities
        loss += -np.log(ps[t][target, 0])                           # cross-entropy
    # backward pass: gradients are summed ("pooled") over the time steps
    grads = {"d" + k: np.zeros_like(params[k]) for k in PARAM_NAMES}
    dWxh, dWhh, dWhy, dbh, dby = (grads["d" + k] for k in PARAM_NAMES)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1                  # dL/dy = p - onehot(target)
        dWhy += dy @ hs[t].T
        dby += dy
        dh = Why.T @ dy + dhnext             # from the output and from the future
        dhraw = (1 - hs[t] * hs[t]) * dh     # through tanh: tanh' = 1 - h^2
        dbh += dhraw
        dWxh += dhraw @ xs[t].T
        dWhh += dhraw @ hs[t - 1].T
        dhnext = Whh.T @ dhraw               # to the previous step
    if clip is not None:
        clip_by_value(grads, clip)           # mitigate exploding gradients (in place)
    return float(loss), grads, hs[len(inputs) - 1]


def sample(h: np.ndarray, seed_ix: int, n: int, params: Params, rng: np.random.Generator | None = None,
           temperature: float = 1.0, top_k: int | None = None) -> list[int]:
    """Sample ``n`` character ids, starting from hidden state ``h`` (H, 1) and character ``seed_ix``.

    Each step feeds the previous sampled character back in. ``temperature`` and ``top_k`` reshape
    the distribution (see :mod:`course_utils.charrnn.sampling`); the defaults sample it as is.
    """
    from .sampling import sample_index

    Wxh, Whh, Why, bh, by = (params[k] for k in PARAM_NAMES)
    V = Wxh.shape[1]
    _check_ids([seed_ix], V, "the seed character")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    rng = rng if rng is not None else np.random.default_rng()
    x = np.zeros((V, 1), dtype=Wxh.dtype)
    x[seed_ix] = 1
    ixes: list[int] = []
    for _ in range(n):
        h = np.tanh(Wxh @ x + Whh @ h + bh)
        y = Why @ h + by
        ix = sample_index(y.ravel(), rng, temperature=temperature, top_k=top_k)
        x = np.zeros((V, 1), dtype=Wxh.dtype)
        x[ix] = 1
        ixes.append(ix)
    return ixes


def prime_and_sample(params: Params, prime_ids: Sequence[int] | np.ndarray, n: int,
                     rng: np.random.Generator | None = None, temperature: float = 1.0,
                     top_k: int | None = None) -> list[int]:
    """Feed the priming characters through the network from a zero state, then :func:`sample` ``n`` more.

    The last priming character is the seed of the sample. Returns the ``n`` sampled ids only.
    Raises ``ValueError`` for an empty prime.
    """
    prime_ids = np.asarray(prime_ids, dtype=np.int64)
    if prime_ids.size == 0:
        raise ValueError("the prime text is empty: give at least one character to start from")
    Wxh, Whh, bh = params["Wxh"], params["Whh"], params["bh"]
    _check_ids(prime_ids, Wxh.shape[1], "the prime text")
    h = np.zeros((Whh.shape[0], 1), dtype=Whh.dtype)
    for ix in prime_ids[:-1]:
        h = np.tanh(Wxh[:, ix:ix + 1] + Whh @ h + bh)    # Wxh @ onehot(ix) is column ix
    return sample(h, int(prime_ids[-1]), n, params, rng, temperature=temperature, top_k=top_k)


def adagrad_update(params: Params, grads: Params, memory: Params, learning_rate: float = 0.1,
                   eps: float = 1e-8) -> None:
    """Adagrad, in place: ``mem += g**2``; ``param -= lr * g / sqrt(mem + eps)`` for every parameter.

    ``grads`` is keyed ``d<name>``, ``memory`` by parameter name (as ``params``).
    """
    for name in PARAM_NAMES:
        g = grads["d" + name]
        memory[name] += g * g
        params[name] += -learning_rate * g / np.sqrt(memory[name] + eps)


def initial_smooth_loss(vocab_size: int, seq_length: int) -> float:
    """The loss of a uniform guess over T characters: ``-ln(1/V) * T`` (104.36 for V=65, T=25)."""
    return float(-np.log(1.0 / vocab_size) * seq_length)


def update_smooth_loss(smooth_loss: float, loss: float, decay: float = 0.999) -> float:
    """Exponential moving average of the loss, as printed by the original program."""
    return smooth_loss * decay + loss * (1 - decay)
