"""The student's workspace: copies of the lectures and labs that JupyterLab opens (``make lab``).

The notebooks in ``lectures/`` and ``labs/`` are the validated copies: their committed outputs are
what ``make test`` (nbval) compares a fresh run with. A browser run saves different outputs (widget
output lives in the browser, progress bars and live plots are drawn instead of printed), so students
never work on them: :func:`sync_workspace` copies every lecture and lab into ``workspace/`` (its own
``.gitignore`` keeps it out of git) and ``make lab`` opens JupyterLab there. A student's copy is never
overwritten; a notebook the course adds later is copied on the next ``make lab``.
Copies are signed as trusted (they are the course's own notebooks), so JupyterLab shows their
committed outputs in full before anything runs.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .notebooks import COURSE_ROOT

__all__ = ["WORKSPACE_ENV", "FOLDERS", "workspace_dir", "sync_workspace", "SyncReport"]

WORKSPACE_ENV = "COURSE_WORKSPACE"
FOLDERS = ("lectures", "labs")


def workspace_dir() -> Path:
    """``$COURSE_WORKSPACE``, else ``workspace/`` in the course folder."""
    env = os.environ.get(WORKSPACE_ENV)
    return Path(env).expanduser().resolve() if env else COURSE_ROOT / "workspace"


@dataclass
class SyncReport:
    """What :func:`sync_workspace` did: paths copied, and paths kept because the student's copy exists."""
    root: Path
    copied: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def _sign(path: Path) -> None:
    """Mark a copied notebook as trusted for this user (as 'File > Trust Notebook' does)."""
    import nbformat
    from nbformat.sign import NotebookNotary

    try:
        nb = nbformat.read(path, as_version=4)
        NotebookNotary().sign(nb)
    except Exception:  # no writable signature database: the notebook just opens untrusted
        pass


def sync_workspace(root: str | Path | None = None, *, source: str | Path = COURSE_ROOT,
                   reset: list[str] | tuple[str, ...] = ()) -> SyncReport:
    """Copy ``lectures/*.ipynb`` and ``labs/*.ipynb`` of ``source`` into ``root`` (default :func:`workspace_dir`).

    - a notebook already in the workspace is kept as it is (the student's work), unless its file
      name is in ``reset``: then the old copy is renamed ``NAME.ipynb.bak`` and a fresh one copied
    Returns a :class:`SyncReport`. Raises ``ValueError`` for a ``reset`` name that is not a course notebook.
    """
    root = Path(root).resolve() if root is not None else workspace_dir()
    source = Path(source)
    notebooks = {nb.name: (folder, nb) for folder in FOLDERS for nb in sorted((source / folder).glob("*.ipynb"))}
    unknown = [n for n in reset if n not in notebooks]
    if unknown:
        raise ValueError(f"not a course notebook: {', '.join(unknown)}; choose from {', '.join(sorted(notebooks))}")
    root.mkdir(parents=True, exist_ok=True)
    ignore = root / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# the students' copies of the notebooks: never committed\n*\n", encoding="utf-8")
    report = SyncReport(root)
    for name, (folder, src) in notebooks.items():
        dest = root / folder / name
        if dest.exists() and name not in reset:
            report.kept.append(dest)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            os.replace(dest, dest.with_name(dest.name + ".bak"))
        shutil.copyfile(src, dest)
        _sign(dest)
        report.copied.append(dest)
    return report
