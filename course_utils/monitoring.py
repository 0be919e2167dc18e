"""TensorBoard-style monitoring (unit 8): write real event files, read them back, watch them live.

* :class:`TensorBoardLogger` -- a thin wrapper around ``torch.utils.tensorboard.SummaryWriter``:
  scalars (loss, accuracy), weight and gradient histograms of a model, text samples, the model
  graph, and the global gradient norm. The files are what ``tensorboard --logdir runs`` shows.
* :func:`read_scalars`, :func:`read_tags` -- read event files back with TensorBoard's
  ``EventAccumulator`` (so notebooks can plot and test what was logged without a TensorBoard server).
* :class:`LiveDashboard` -- an in-notebook dashboard: one matplotlib panel per scalar tag, redrawn
  in place through a display handle (like :func:`course_utils.training.fit`), a text line when headless.
* :func:`run_dir` -- where runs go: a folder under the course's git-ignored ``runs/`` (``COURSE_RUNS_DIR``
  overrides), emptied when a notebook starts again (no stale or duplicate curves, nothing left in /tmp),
  with the ``tensorboard --logdir`` command and the ``%tensorboard`` magic printed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .plotting import is_headless

__all__ = ["runs_root", "run_dir", "tensorboard_commands", "TensorBoardLogger", "global_grad_norm", "read_scalars", "read_tags", "LiveDashboard"]


def runs_root() -> Path:
    """The folder that holds all runs: ``$COURSE_RUNS_DIR``, else ``runs/`` in the course folder (git-ignored)."""
    env = os.environ.get("COURSE_RUNS_DIR")
    if env:
        return Path(env).expanduser().resolve()
    from .notebooks import COURSE_ROOT
    return COURSE_ROOT / "runs"


def _shown(path: Path, start: Path) -> str:
    """``path`` as short as possible: relative to ``start`` when it is below or near it, else absolute."""
    rel = os.path.relpath(path, start)
    return rel if Path(rel).parts.count(os.pardir) <= 2 else str(path)


def tensorboard_commands(path: str | Path) -> str:
    """How to look at ``path`` in TensorBoard: from a terminal in the course folder, and from a notebook."""
    from .notebooks import COURSE_ROOT

    path = Path(path).resolve()
    in_course = path.is_relative_to(COURSE_ROOT)
    term = os.path.relpath(path, COURSE_ROOT) if in_course else str(path)
    here = _shown(path, Path.cwd())
    return (f"TensorBoard runs in {term}\n"
            f"  terminal (in the course folder): tensorboard --logdir {term}\n"
            f"  notebook: %load_ext tensorboard  then  %tensorboard --logdir {here}")


def run_dir(name: str, *, fresh: bool = True, show: bool = True) -> Path:
    """The folder for the runs of ``name`` (e.g. a lecture), ``runs_root() / name``, created if needed.

    - fresh: delete what an earlier execution left there first, so re-running a notebook does not pile
      up event files (TensorBoard would draw every old curve again)
    - show: print where the files go with the ``tensorboard`` command and the ``%tensorboard`` magic
    """
    root = runs_root()
    path = (root / name).resolve()
    if not name or path == root.resolve() or not path.is_relative_to(root.resolve()):
        raise ValueError(f"run_dir({name!r}): give a folder name inside {root}, e.g. '08_monitoring'")
    if fresh and path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    if show:
        print(tensorboard_commands(path))
    return path


def global_grad_norm(parameters: Iterable[torch.Tensor]) -> float:
    """The L2 norm of all gradients as one vector (0 when no parameter has a gradient)."""
    norms = [p.grad.detach().norm() for p in parameters if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0


class TensorBoardLogger:
    """Log training signals of one run to ``run_dir`` (created if needed).

    Use as a context manager (or call :meth:`close`) so that everything reaches the disk.
    """

    def __init__(self, run_dir: str | Path, flush_secs: int = 10) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(log_dir=str(self.run_dir), flush_secs=flush_secs)

    def scalars(self, step: int, **values: float) -> None:
        """``scalars(step, loss=..., accuracy=...)``; a ``__`` in a name becomes ``/`` (``train__loss``)."""
        for name, value in values.items():
            self.writer.add_scalar(name.replace("__", "/"), float(value), global_step=step)

    def histograms(self, model: nn.Module, step: int, grads: bool = True) -> None:
        """Histograms of every parameter (``weights/<name>``) and of its gradient (``grads/<name>``)."""
        for name, p in model.named_parameters():
            self.writer.add_histogram(f"weights/{name}", p.detach().cpu(), global_step=step)
            if grads and p.grad is not None:
                self.writer.add_histogram(f"grads/{name}", p.grad.detach().cpu(), global_step=step)

    def text(self, tag: str, text: str, step: int) -> None:
        """A text sample (e.g. predictions, generated text) shown in TensorBoard's Text tab."""
        self.writer.add_text(tag, text, global_step=step)

    def graph(self, model: nn.Module, example_input: torch.Tensor | tuple) -> None:
        """The model graph, traced with ``example_input`` (TensorBoard's Graphs tab)."""
        import warnings

        with warnings.catch_warnings():      # tracing warns about Python control flow on shapes
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            self.writer.add_graph(model, example_input)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> "TensorBoardLogger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _accumulator(run_dir: str | Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    path = Path(run_dir)
    if not path.is_dir() or not any(path.glob("events.out.tfevents.*")):
        raise FileNotFoundError(f"no TensorBoard event files in {path}")
    # size_guidance 0 = keep every event (the default keeps a sample of 10000 scalars)
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    return acc


def read_scalars(run_dir: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every scalar tag of a run: ``{tag: (steps int64, values float64)}``, sorted by step."""
    acc = _accumulator(run_dir)
    out = {}
    for tag in sorted(acc.Tags()["scalars"]):
        events = sorted(acc.Scalars(tag), key=lambda e: e.step)
        out[tag] = (np.array([e.step for e in events], dtype=np.int64),
                    np.array([e.value for e in events], dtype=np.float64))
    return out


def read_tags(run_dir: str | Path) -> dict[str, list[str]]:
    """The tags of a run by kind: ``{"scalars": [...], "histograms": [...], "text": [...], "graph": bool}``.

    Text summaries are stored as tensors with the ``text`` plugin; they are listed under ``"text"``
    (``logger.text("samples", ...)`` appears as ``"samples/text_summary"``).
    """
    acc = _accumulator(run_dir)
    tags = acc.Tags()
    text = sorted(t for t in tags.get("tensors", [])
                  if acc.SummaryMetadata(t).plugin_data.plugin_name == "text")
    return {"scalars": sorted(tags["scalars"]), "histograms": sorted(tags["histograms"]),
            "text": text, "graph": bool(tags.get("graph"))}


class LiveDashboard:
    """A live in-notebook view of scalars: ``dash.update(step, loss=..., accuracy=...)``.

    In Jupyter one matplotlib figure (a panel per tag) is redrawn in place every ``every`` updates;
    when headless (``COURSE_HEADLESS=1``) or without IPython it prints a rounded text line instead.
    ``history`` holds everything as ``{tag: ([steps], [values])}``.
    """

    def __init__(self, tags: Iterable[str], every: int = 10) -> None:
        self.tags = list(tags)
        self.every = max(1, int(every))
        self.history: dict[str, tuple[list[int], list[float]]] = {t: ([], []) for t in self.tags}
        self._n = 0
        self._handle = None
        if not is_headless():
            try:
                import matplotlib.pyplot as plt
                from IPython.display import display

                self.fig, axes = plt.subplots(1, len(self.tags), figsize=(3.2 * len(self.tags), 2.6), squeeze=False)
                self.axes = list(axes[0])
                plt.close(self.fig)
                self._handle = display(self.fig, display_id=True)
            except Exception:  # no IPython display: text
                self._handle = None

    def update(self, step: int, **values: float) -> None:
        for tag, v in values.items():
            steps, vals = self.history.setdefault(tag, ([], []))
            steps.append(int(step))
            vals.append(float(v))
        self._n += 1
        if self._n % self.every == 0:
            self.draw()

    def draw(self) -> None:
        if self._handle is None:
            print(f"step {max((s[-1] for s, _ in self.history.values() if s), default=0):5d}  "
                  + "  ".join(f"{t} {v[-1]:.3f}" for t, (_, v) in self.history.items() if v))
            return
        for ax, tag in zip(self.axes, self.tags):
            ax.clear()
            ax.plot(*self.history[tag], lw=1)
            ax.set_title(tag)
            ax.set_xlabel("step")
        self.fig.tight_layout()
        self._handle.update(self.fig)
