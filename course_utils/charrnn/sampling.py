"""Turning a model's scores into characters: softmax with temperature, top-k, drawing an index.

With scores y (V,) and temperature tau > 0 the sampling distribution is ``softmax(y / tau)``:
tau -> 0 approaches greedy argmax, tau = 1 is the model's own distribution, large tau approaches
uniform. Top-k keeps the k most likely characters and renormalises.
"""

from __future__ import annotations

import numpy as np

__all__ = ["softmax", "sampling_distribution", "sample_index"]


def softmax(y: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``softmax(y / temperature)`` over the last axis, computed stably (max subtracted)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive (use a small value such as 0.05 for "
                         f"near-greedy sampling), got {temperature}")
    z = np.asarray(y, dtype=np.float64) / temperature
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sampling_distribution(y: np.ndarray, temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
    """The distribution a sampler draws from: temperature, then top-k, then renormalise.

    Inputs: y (V,) unnormalised log-probabilities. Returns p (V,) summing to 1.
    Ties at the k-th largest score are all kept.
    """
    y = np.asarray(y, dtype=np.float64).ravel()
    p = softmax(y, temperature)
    if top_k is not None:
        if not 1 <= top_k:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        if top_k < y.size:
            kth = np.partition(y, y.size - top_k)[y.size - top_k]
            p = np.where(y >= kth, p, 0.0)
            p /= p.sum()
    return p


def sample_index(y: np.ndarray, rng: np.random.Generator, temperature: float = 1.0,
                 top_k: int | None = None) -> int:
    """Draw one index from :func:`sampling_distribution` of the scores ``y`` (V,)."""
    p = sampling_distribution(y, temperature, top_k)
    return int(rng.choice(p.size, p=p))
