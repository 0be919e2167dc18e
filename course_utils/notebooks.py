"""Reading, executing and normalising course notebooks.

Committed notebooks keep their outputs, so they must be deterministic and small: this module
executes a notebook headless (``COURSE_HEADLESS=1``), then strips widget state and per-cell
timing metadata before saving.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat

__all__ = ["NotebookError", "read_notebook", "write_notebook", "normalise", "execute_notebook",
           "KERNEL_NAME", "KERNEL_DISPLAY_NAME", "COURSE_ROOT"]

KERNEL_NAME = "course-cnn-rnn"
KERNEL_DISPLAY_NAME = "Python 3 (CNN & RNN course)"
COURSE_ROOT = Path(__file__).resolve().parents[1]
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024


class NotebookError(ValueError):
    """A file is not a readable Jupyter notebook of the expected form."""


def read_notebook(path: str | Path, max_bytes: int = MAX_NOTEBOOK_BYTES) -> nbformat.NotebookNode:
    """Read and validate a notebook (nbformat 4), with an error that says what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise NotebookError(f"{path}: no such file")
    size = path.stat().st_size
    if size > max_bytes:
        raise NotebookError(f"{path}: {size / 1e6:.1f} MB is larger than the {max_bytes / 1e6:.0f} MB limit; "
                            "clear large outputs (Edit > Clear Outputs of All Cells) and save again")
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise NotebookError(f"{path}: this is a binary file, not a Jupyter notebook (.ipynb is JSON text)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{path}: not UTF-8 text ({exc}); a notebook is a UTF-8 JSON file") from None
    try:
        nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    except Exception as exc:  # nbformat raises several types for bad JSON
        raise NotebookError(f"{path}: not valid notebook JSON ({type(exc).__name__}: {str(exc)[:200]}); "
                            "was the file edited outside Jupyter or truncated?") from None
    if not isinstance(nb, dict) or nb.get("nbformat") != 4:
        raise NotebookError(f"{path}: nbformat {nb.get('nbformat') if isinstance(nb, dict) else '?'} is not supported; "
                            "save the notebook with JupyterLab 3 or newer (nbformat 4)")
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        raise NotebookError(f"{path}: the notebook does not follow the nbformat 4 schema: {exc.message[:200]}") from None
    return nb


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Make a notebook's on-disk form deterministic and small (in place, also returned).

    Drops stored widget state and per-cell execution timing; keeps cell ids and outputs.
    """
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                if "data" in out:
                    out["data"].pop("application/vnd.jupyter.widget-state+json", None)
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": KERNEL_DISPLAY_NAME, "language": "python"}
    lang = nb.metadata.get("language_info", {})
    nb.metadata["language_info"] = {"name": "python", "version": lang.get("version", "3.11"),
                                    "mimetype": "text/x-python", "file_extension": ".py",
                                    "codemirror_mode": {"name": "ipython", "version": 3},
                                    "pygments_lexer": "ipython3", "nbconvert_exporter": "python"}
    return nb


def write_notebook(nb: nbformat.NotebookNode, path: str | Path) -> None:
    """Write a notebook atomically with a trailing newline."""
    path = Path(path)
    text = nbformat.writes(nb) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def execute_notebook(path: str | Path, *, timeout: int = 600, save: bool = True,
                     allow_errors: bool = False) -> tuple[nbformat.NotebookNode, float]:
    """Execute a notebook top to bottom headless in its own folder; return ``(notebook, seconds)``.

    Uses the current Python environment's kernel, sets ``COURSE_HEADLESS=1`` so widgets also
    render a static view, and (with ``save``) writes the normalised result back.
    """
    from nbclient import NotebookClient

    path = Path(path).resolve()
    nb = read_notebook(path)
    os.environ["COURSE_HEADLESS"] = "1"
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    normalise(nb)
    if save:
        write_notebook(nb, path)
    return nb, seconds
