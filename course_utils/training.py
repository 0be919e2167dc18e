"""A small training-loop helper used by the notebooks.

:func:`fit` calls a ``step`` function repeatedly under a ``tqdm.auto`` progress bar, evaluates
every ``eval_every`` steps, redraws a live loss plot in Jupyter (plain text lines when headless)
and returns the :class:`History` as data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from .plotting import is_headless
from .runtime import ensure_thread_limits

__all__ = ["History", "fit"]


@dataclass
class History:
    """Losses recorded by :func:`fit`: training loss at every step, evaluation metrics at checkpoints."""
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    evals: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"steps": self.steps, "loss": self.loss, "eval_steps": self.eval_steps,
                "evals": self.evals, "seconds": self.seconds}

    def last(self, metric: str) -> float:
        """The latest value of an evaluation metric (or ``"loss"``)."""
        if metric == "loss":
            return self.loss[-1]
        return self.evals[metric][-1]

    def plot(self, ax=None, title: str = "", logy: bool = False):
        """Plot training loss (light) and each evaluation metric (markers) against step."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        ax.plot(self.steps, self.loss, lw=0.8, alpha=0.6, label="train loss (per step)")
        for name, values in self.evals.items():
            ax.plot(self.eval_steps, values, "o-", ms=3, label=name)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        if logy:
            ax.set_yscale("log")
        if title:
            ax.set_title(title)
        ax.legend()
        return ax


class _LivePlot:
    def __init__(self):
        from IPython.display import display
        import matplotlib.pyplot as plt

        self.fig, self.ax = plt.subplots()
        plt.close(self.fig)
        self.handle = display(self.fig, display_id=True)

    def update(self, history: History) -> None:
        self.ax.clear()
        history.plot(self.ax)
        self.handle.update(self.fig)


def fit(step: Callable[[int], float], n_steps: int, *,
        evaluate: Callable[[], dict[str, float]] | None = None,
        eval_every: int = 100, desc: str = "training", live_plot: bool = True,
        max_seconds: float | None = None) -> History:
    """Run ``step(i)`` for ``i = 0 .. n_steps-1`` (it returns the training loss of that step).

    - evaluate: optional ``() -> {"val loss": ..., ...}`` called every ``eval_every`` steps and at the end
    - live_plot: redraw a loss plot in Jupyter while training (ignored when headless: a text line
      per evaluation is printed instead)
    - max_seconds: stop early after this much wall time
    Raises ``FloatingPointError`` as soon as the loss is NaN or infinite (it names the step).
    """
    if n_steps < 1:
        raise ValueError("n_steps must be at least 1")
    ensure_thread_limits()    # one torch/BLAS thread unless the notebook or COURSE_*_THREADS chose otherwise
    history = History()
    plot = None
    if live_plot and not is_headless():
        try:
            plot = _LivePlot()
        except Exception:  # no IPython display available: plain text
            plot = None
    start = time.perf_counter()
    bar = tqdm(range(n_steps), desc=desc, leave=True)   # the finished bar stays (also in saved notebooks)

    def run_eval(i: int) -> None:
        metrics = evaluate() if evaluate else {}
        history.eval_steps.append(i)
        for k, v in metrics.items():
            history.evals.setdefault(k, []).append(float(v))
        if plot is not None:
            plot.update(history)
        elif is_headless() and metrics:
            print(f"step {i:5d}  " + "  ".join(f"{k} {v:.3f}" for k, v in metrics.items()))

    for i in bar:
        loss = float(step(i))
        if not math.isfinite(loss):
            bar.close()
            raise FloatingPointError(f"the loss became {loss} at step {i}: lower the learning rate or clip gradients")
        history.steps.append(i)
        history.loss.append(loss)
        if i % 10 == 0:
            bar.set_postfix(loss=f"{loss:.3f}")
        if evaluate is not None and (i + 1) % eval_every == 0:
            run_eval(i + 1)
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
    bar.close()
    if evaluate is not None and (not history.eval_steps or history.eval_steps[-1] != history.steps[-1] + 1):
        run_eval(history.steps[-1] + 1)
    history.seconds = time.perf_counter() - start
    return history
