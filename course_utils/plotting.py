"""Notebook set-up and small plotting helpers shared by the lectures and labs."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import plotly.graph_objects

__all__ = ["setup_notebook", "is_headless", "heatmap"]


def is_headless() -> bool:
    """True when no interactive frontend is expected (CI, ``course nb run``, nbval)."""
    return os.environ.get("COURSE_HEADLESS") == "1"


def setup_notebook(seed: int = 0, threads: int | str | None = "env",
                   blas_threads: int | str | None = "env") -> np.random.Generator:
    """First call of every course notebook: deterministic seeds, small figures, compact printing.

    - seeds Python, NumPy and torch (:func:`course_utils.runtime.seed_everything`)
    - plotly figures render as ``plotly_mimetype`` (JupyterLab draws them; nothing embeds plotly.js)
    - matplotlib draws PNGs at 72 dpi, 5x3.2 inches by default
    - NumPy prints 4 significant decimals
    - torch uses ``threads`` CPU threads and BLAS (NumPy) ``blas_threads``; by default both come from
      ``COURSE_TORCH_THREADS`` / ``COURSE_BLAS_THREADS`` and are 1 when those are unset: the course's
      small matrices run fastest single-threaded, above all on a busy machine
      (see :func:`course_utils.runtime.limit_threads`)
    Returns a ``np.random.Generator`` seeded with ``seed``.
    """
    import matplotlib
    import plotly.io as pio
    from .runtime import limit_threads, seed_everything

    pio.renderers.default = "plotly_mimetype"
    matplotlib.rcParams.update({"figure.dpi": 72, "savefig.dpi": 72, "figure.figsize": (5, 3.2),
                                "axes.grid": True, "grid.alpha": 0.3, "font.size": 9})
    try:
        from IPython import get_ipython
        ip = get_ipython()
        if ip is not None:
            ip.run_line_magic("matplotlib", "inline")
            ip.run_line_magic("config", "InlineBackend.figure_formats = ['png']")
    except ImportError:
        pass
    np.set_printoptions(precision=4, suppress=True, linewidth=100)
    limit_threads(blas=blas_threads, torch_threads=threads)
    return seed_everything(seed)


def heatmap(z: np.ndarray, x: list | None = None, y: list | None = None, title: str = "",
            colorscale: str = "RdBu", zmid: float | None = 0.0, decimals: int = 4,
            **layout: object) -> "plotly.graph_objects.Figure":
    """A plotly heatmap of a 2-D array with values rounded (small, stable notebook outputs).

    Inputs:
    - z: (rows, cols) array
    - x, y: optional tick labels of length cols / rows
    Returns a ``plotly.graph_objects.Figure``.
    """
    import plotly.graph_objects as go

    z = np.round(np.asarray(z, dtype=np.float64), decimals)
    if z.ndim != 2:
        raise ValueError(f"heatmap needs a 2-D array, got shape {z.shape}")
    fig = go.Figure(go.Heatmap(z=z, x=x, y=y, colorscale=colorscale, zmid=zmid))
    fig.update_layout(title=title, height=layout.pop("height", 300), width=layout.pop("width", 520),
                      margin=dict(l=40, r=20, t=40, b=30), **layout)
    return fig
