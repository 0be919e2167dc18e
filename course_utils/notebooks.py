"""Reading, executing and normalising course notebooks.

Committed notebooks keep their outputs, so they must be deterministic and small: this module
executes a notebook headless (``COURSE_HEADLESS=1``), then :func:`normalise` strips widget state and
per-cell timing metadata before saving, and leaves a static rendering of every widget.
"""

from __future__ import annotations

import html
import os
import re
import time
from pathlib import Path

import nbformat

__all__ = ["NotebookError", "read_notebook", "write_notebook", "normalise", "execute_notebook",
           "progress_text", "KERNEL_NAME", "KERNEL_DISPLAY_NAME", "COURSE_ROOT"]

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


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _widget_states(nb: nbformat.NotebookNode) -> dict[str, dict]:
    """``{model_id: state}`` of the widget state nbclient stored in the notebook metadata (may be empty)."""
    stored = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    return {mid: m.get("state", {}) for mid, m in stored.items() if isinstance(m, dict)}


def _html_text(value: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", value or "")).replace("\u2007", " ")   # tqdm pads with figure spaces


def progress_text(states: dict[str, dict], model_id: str, width: int = 10) -> str | None:
    """The text of a ``tqdm.notebook`` bar as it was left (e.g. ``training: 100%|██████████| 570/570 [...]``).

    A tqdm bar is an HBox of (HTML, FloatProgress, HTML); returns None for any other widget.
    """
    box = states.get(model_id, {})
    if box.get("_model_name") != "HBoxModel":
        return None
    ids = [c.removeprefix("IPY_MODEL_") for c in box.get("children", []) if isinstance(c, str)]
    parts = [states.get(i, {}) for i in ids]
    if [p.get("_model_name") for p in parts] != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    left, bar, right = _html_text(parts[0].get("value", "")), parts[1], _html_text(parts[2].get("value", ""))
    if not left.rstrip().endswith("%"):          # unknown total: tqdm shows no bar, only counts
        return f"{left}{right}".strip()
    total, value = float(bar.get("max") or 0), float(bar.get("value") or 0)
    filled = int(width * min(max(value / total, 0.0), 1.0)) if total > 0 else 0
    return f"{left}|{'█' * filled}{' ' * (width - filled)}|{right}"


MAX_FIGURE_COLOURS = 1024


def compact_png(b64: str) -> str:
    """A figure's PNG (base64), stored smaller: re-encoded with zlib's best effort and, for a figure of at most
    ``MAX_FIGURE_COLOURS`` colours (lines, text, heatmaps drawn from a 256-entry colormap: the extra colours are
    anti-aliasing), as a 256-colour palette without dithering. Images with more colours (photographs, smooth
    gradients) are only re-encoded. Returns the input when the result would not be smaller."""
    import base64
    import binascii
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        raw = base64.b64decode(b64)
        image = Image.open(io.BytesIO(raw))
        image.load()
    except (binascii.Error, ValueError, OSError, UnidentifiedImageError):
        return b64
    rgb = image.convert("RGB")
    colours = rgb.getcolors(MAX_FIGURE_COLOURS)
    if colours is not None and len(colours) > 256:
        image = rgb.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    small = base64.b64encode(out.getvalue()).decode("ascii")
    return small if len(small) < len(b64.replace("\n", "")) else b64


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Make a notebook's on-disk form deterministic, small and readable before it runs (in place, also returned).

    - widget state is not stored, and widget views are dropped from outputs (without state they
      cannot be drawn): what remains is each output's text, so a reader (JupyterLab before running,
      GitHub, nbviewer) sees the text line :func:`course_utils.widgets.live` gives its controls and
      the figure it rendered for the initial values;
    - a tqdm progress bar keeps the text of its final state (``100%|██████████| 570/570 ...``),
      read from the widget state nbclient recorded, instead of the ``0%`` of its first display;
    - figures are stored compactly (:func:`compact_png`: at most 256 colours for a line-art figure);
    - per-cell execution timing is dropped; cell ids and other outputs are kept.
    """
    states = _widget_states(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                data = out.get("data")
                if not data:
                    continue
                data.pop(WIDGET_STATE, None)
                if isinstance(data.get("image/png"), str):
                    data["image/png"] = compact_png(data["image/png"])
                view = data.get(WIDGET_VIEW)
                if view is None:
                    continue
                text = progress_text(states, view.get("model_id", "")) if isinstance(view, dict) else None
                if text is not None:
                    data["text/plain"] = text
                data.setdefault("text/plain", "(an interactive widget: run the notebook to see it)")
                del data[WIDGET_VIEW]
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
