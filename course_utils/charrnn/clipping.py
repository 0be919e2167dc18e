"""Gradient clipping: element-wise by value (min-char-rnn) and by global norm (Pascanu et al. 2013).

Both take a dict of gradient arrays. Clipping by value changes the *direction* of the gradient
whenever any entry is clipped; clipping by global norm rescales every array by the same factor,
so the direction is kept and only the step length is bounded.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["clip_by_value", "global_norm", "clip_by_global_norm"]


def clip_by_value(grads: Mapping[str, np.ndarray], limit: float) -> dict[str, np.ndarray]:
    """Clip every entry of every array to ``[-limit, limit]``, **in place**; returns ``grads``."""
    if not limit > 0:
        raise ValueError(f"the clipping limit must be positive, got {limit}")
    for g in grads.values():
        np.clip(g, -limit, limit, out=g)
    return dict(grads)


def global_norm(grads: Mapping[str, np.ndarray]) -> float:
    """The L2 norm of all arrays taken together: ``sqrt(sum_i ||g_i||^2)``."""
    return float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads.values())))


def clip_by_global_norm(grads: Mapping[str, np.ndarray], max_norm: float) -> tuple[dict[str, np.ndarray], float]:
    """Rescale all gradients by ``max_norm / ||g||`` when their global norm exceeds ``max_norm``.

    Returns ``(clipped, norm)``: new arrays (the inputs are not modified) and the norm *before*
    clipping, which is worth logging.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    norm = global_norm(grads)
    scale = max_norm / norm if norm > max_norm else 1.0
    return {k: g * scale for k, g in grads.items()}, norm
