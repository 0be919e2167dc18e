"""Runtime helpers: which device to use, how to seed, which dtype.

Every model and trainer in the package takes a ``device`` argument whose default is
:func:`get_device`, so the same code runs on a laptop CPU and on a CUDA GPU.
Set the environment variable ``COURSE_DEVICE`` (``cpu``, ``cuda``, ``cuda:1`` ...) to override.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["get_device", "seed_everything", "set_deterministic", "to_tensor", "as_numpy", "DTYPES"]

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def get_device(preferred: str | torch.device | None = None) -> torch.device:
    """Return the device to compute on.

    Order: the ``preferred`` argument, then ``$COURSE_DEVICE``, then CUDA when available, else CPU.
    Asking for CUDA on a machine without it raises a ``RuntimeError`` that says so.
    """
    choice = preferred if preferred is not None else os.environ.get("COURSE_DEVICE")
    if choice is None or str(choice) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(choice)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {device} was requested but CUDA is not available on this machine; "
            "use 'cpu' or unset COURSE_DEVICE"
        )
    return device


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python, NumPy's legacy global RNG and torch (CPU and CUDA).

    Returns a fresh ``np.random.Generator`` seeded with the same value, for code that
    prefers explicit generators.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return np.random.default_rng(seed)


def set_deterministic(enabled: bool = True, threads: int | None = None) -> None:
    """Ask torch for deterministic kernels (and optionally fix the CPU thread count).

    On CUDA this also sets ``CUBLAS_WORKSPACE_CONFIG`` as torch requires.
    """
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled
    if threads is not None:
        torch.set_num_threads(int(threads))


def to_tensor(x: np.ndarray | torch.Tensor | list | float, device: str | torch.device | None = None, dtype: str | torch.dtype | None = None) -> torch.Tensor:
    """Convert an array-like to a tensor on ``device`` (default :func:`get_device`) with ``dtype``."""
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; choose one of {sorted(DTYPES)}")
        dtype = DTYPES[dtype]
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    return t.to(device=get_device(device), dtype=dtype if dtype is not None else t.dtype)


def as_numpy(x: torch.Tensor | np.ndarray | list | float) -> np.ndarray:
    """Return a NumPy array for a tensor (any device, detached) or array-like."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)
