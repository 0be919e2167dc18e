"""Small numeric helpers shared by the reference implementations and the grader (low in the package: imports only NumPy)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["rel_error", "below"]


def rel_error(x: Any, y: Any) -> float:
    """cs231n's relative error: max |x - y| / max(1e-8, |x| + |y|), elementwise."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0 and y.size == 0:
        return 0.0
    with np.errstate(all="ignore"):
        err = float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))
    return err if math.isfinite(err) else math.inf     # NaN or inf anywhere is as wrong as can be


def below(err: float, bound: float, margin: float = 100.0) -> str:
    """How a check's error compares with its bound, in words that round-off cannot change.

    ``"< bound/margin"`` when ``err`` is far below the bound (the usual result of a correct gradient or a faithful
    port), ``"< bound"`` when it passes with less room, else the value itself. Printing ``f"{err:.0e}"`` would show
    the round-off of this CPU's BLAS kernel, which differs between machines (e.g. 4e-12 on one, 2e-11 on another).
    """
    def power(x: float) -> str:
        return f"{x:.0e}".replace("e-0", "e-").replace("e+0", "e+")

    if err < bound / margin:
        return f"< {power(bound / margin)}"
    if err < bound:
        return f"< {power(bound)}"
    return f"{err:.1e} (above {power(bound)})"
