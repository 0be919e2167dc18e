"""Small numeric helpers shared by the reference implementations and the grader (low in the package: imports only NumPy)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["rel_error"]


def rel_error(x: Any, y: Any) -> float:
    """cs231n's relative error: max |x - y| / max(1e-8, |x| + |y|), elementwise."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0 and y.size == 0:
        return 0.0
    with np.errstate(all="ignore"):
        err = float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))
    return err if math.isfinite(err) else math.inf     # NaN or inf anywhere is as wrong as can be
