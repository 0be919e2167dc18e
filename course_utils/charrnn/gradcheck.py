"""Numerical gradient checking: centred differences and relative errors (cs231n style).

For a scalar function f and an array x, every entry's derivative is estimated by

    df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2h)          error O(h^2)

and compared with the analytic gradient a by a relative error:

* element-wise, ``max_i |a_i - n_i| / max(1e-8, |a_i| + |n_i|)`` (:func:`rel_error`, cs231n's), which is
  dominated by the smallest entries: the round-off of f, about 1e-16 |f| / h, is divided by a tiny
  gradient, so a correct backward pass can show 1e-6 on an entry of size 1e-4;
* per array, ``||a - n|| / max(1e-8, ||a|| + ||n||)`` (:func:`rel_error_norm`), which weighs entries by
  size: a correct float64 backward pass gives about 1e-9, a wrong one 1e-2 or more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ..numerics import rel_error

__all__ = ["rel_error", "rel_error_norm", "numerical_gradient", "sparse_grad_check", "check_gradients"]


def rel_error_norm(a: np.ndarray, n: np.ndarray) -> float:
    """Normwise relative error ``||a - n||_2 / max(1e-8, ||a||_2 + ||n||_2)`` of two arrays."""
    a = np.asarray(a, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    return float(np.linalg.norm(a - n) / max(1e-8, np.linalg.norm(a) + np.linalg.norm(n)))


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centred-difference gradient of ``f()`` with respect to every entry of ``x``.

    ``f`` takes no arguments and reads ``x``, which is perturbed **in place** one entry at a time
    and restored afterwards. Returns an array of ``x``'s shape (float64).
    """
    if x.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 arrays (float32 round-off swamps the differences), got {x.dtype}")
    grad = np.zeros(x.shape)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        f_plus = f()
        x[ix] = old - h
        f_minus = f()
        x[ix] = old                       # restore
        grad[ix] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_gradient_array(f: Callable[[], np.ndarray | tuple[np.ndarray, ...]], x: np.ndarray,
                             upstream: np.ndarray | tuple[np.ndarray, ...], h: float = 1e-6) -> np.ndarray:
    """Numerical gradient of a layer's outputs pulled back through ``upstream`` (cs231n's array check).

    ``f()`` returns an array (or a tuple of arrays) and reads ``x``; ``upstream`` has the same
    structure. Returns d/dx of ``sum(f() * upstream)``, an array of ``x``'s shape.
    """
    pairs = (lambda out: zip(out, upstream)) if isinstance(upstream, tuple) else (lambda out: [(out, upstream)])
    return numerical_gradient(lambda: float(sum(np.sum(o * u) for o, u in pairs(f()))), x, h)


def sparse_grad_check(f: Callable[[], float], x: np.ndarray, analytic: np.ndarray, num_checks: int = 10,
                      h: float = 1e-5, rng: np.random.Generator | None = None) -> np.ndarray:
    """Relative errors at ``num_checks`` random entries of ``x`` (for arrays too big to check fully).

    Returns (num_checks,) relative errors between ``analytic`` and the centred difference.
    """
    if analytic.shape != x.shape:
        raise ValueError(f"analytic gradient has shape {analytic.shape}, the parameter {x.shape}")
    rng = rng if rng is not None else np.random.default_rng(0)
    errors = np.empty(num_checks)
    for i in range(num_checks):
        ix = tuple(int(rng.integers(n)) for n in x.shape)
        old = x[ix]
        x[ix] = old + h
        f_plus = f()
        x[ix] = old - h
        f_minus = f()
        x[ix] = old
        errors[i] = rel_error(analytic[ix], (f_plus - f_minus) / (2 * h))
    return errors


def check_gradients(f: Callable[[], float], params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray],
                    h: float = 1e-5, num_checks: int | None = None,
                    rng: np.random.Generator | None = None) -> dict[str, float]:
    """Relative error per parameter between ``grads`` and numerical gradients of ``f()``.

    - params: arrays that ``f`` reads (perturbed in place, restored)
    - grads: analytic gradients keyed by the parameter name or by ``"d" + name``
    - num_checks: None checks every entry and reports :func:`rel_error_norm`; a number checks that
      many random entries per parameter and reports their largest element-wise :func:`rel_error`
    """
    out: dict[str, float] = {}
    for name, x in params.items():
        g = grads[name] if name in grads else grads["d" + name]
        if num_checks is None:
            out[name] = rel_error_norm(g, numerical_gradient(f, x, h))
        else:
            out[name] = float(sparse_grad_check(f, x, g, num_checks, h, rng).max())
    return out
