"""Generate student labs (``labs/``) from solution notebooks (``solutions/``).

Rules, applied to every ``solutions/NN_topic_lab.ipynb``:

* In code cells, every block between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes
  ``# YOUR CODE HERE`` followed by ``raise NotImplementedError``, at the block's indentation.
* In markdown cells, such a block becomes ``YOUR ANSWER HERE``.
* Cells tagged ``solution-only`` are dropped, outputs included.
* Code outputs are cleared (a changed cell's outputs would be stale, a check's output would show
  the answer), except in cells tagged ``keep-output`` that no stub touched; those outputs come from
  the reference solution, and a first output line says so (:data:`EXPECTED_LABEL`).
* Cell ids are kept, execution counts cleared and timing metadata removed, so the output is
  byte-for-byte deterministic; ``course assign --check`` relies on that.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from .notebooks import COURSE_ROOT, normalise, read_notebook

__all__ = ["AssignError", "strip_solutions", "make_lab", "assign_all", "lab_path_for"]

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
_BEGIN_RE = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION\s*$")
_END_RE = re.compile(r"^[ \t]*### END SOLUTION\s*$")
EXPECTED_LABEL = "Expected output (from the reference solution; running this cell replaces it with yours):"


class AssignError(ValueError):
    """A solution notebook's markers are malformed."""


def strip_solutions(source: str, *, code: bool = True, where: str = "") -> tuple[str, bool]:
    """Replace each solution block in ``source``; return ``(new_source, changed)``."""
    out: list[str] = []
    inside = False
    changed = False
    for lineno, line in enumerate(source.split("\n"), 1):
        m = _BEGIN_RE.match(line)
        if m:
            if inside:
                raise AssignError(f"{where}line {lineno}: nested '{BEGIN}' (the previous block has no '{END}')")
            inside, changed = True, True
            indent = m.group("indent")
            if code:
                out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError"]
            else:
                out.append(f"{indent}YOUR ANSWER HERE")
        elif _END_RE.match(line):
            if not inside:
                raise AssignError(f"{where}line {lineno}: '{END}' without a matching '{BEGIN}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise AssignError(f"{where}'{BEGIN}' is never closed by '{END}'")
    return "\n".join(out), changed


def make_lab(solution: nbformat.NotebookNode, source_name: str = "") -> nbformat.NotebookNode:
    """Return the student copy of a solution notebook (the input is not modified)."""
    nb = copy.deepcopy(solution)
    cells = []
    n_stubs = 0
    for i, cell in enumerate(nb.cells):
        tags = set(cell.metadata.get("tags", []))
        if "solution-only" in tags:
            continue
        where = f"{source_name} cell {i}: " if source_name else f"cell {i}: "
        new_source, changed = strip_solutions(cell.source, code=cell.cell_type == "code", where=where)
        cell.source = new_source
        n_stubs += changed
        if cell.cell_type == "code":
            cell.execution_count = None
            if changed or "keep-output" not in tags:
                cell.outputs = []
            elif cell.outputs:
                cell.outputs.insert(0, nbformat.v4.new_output(
                    "display_data", data={"text/markdown": f"*{EXPECTED_LABEL}*", "text/plain": EXPECTED_LABEL}))
        cells.append(cell)
    if n_stubs == 0:
        raise AssignError(f"{source_name or 'notebook'}: no '{BEGIN}' block found; is this a solution notebook?")
    nb.cells = cells
    normalise(nb)
    nb.metadata.setdefault("course", {})["generated_from"] = f"solutions/{source_name}" if source_name else "solutions"
    return nb


def lab_path_for(solution_path: Path, labs_dir: Path) -> Path:
    return labs_dir / solution_path.name


def assign_all(solutions_dir: str | Path | None = None, labs_dir: str | Path | None = None,
               check: bool = False) -> list[Path]:
    """Generate every lab; with ``check`` write nothing and return the labs that are stale or missing.

    Without ``check`` returns the labs that were (re)written.
    """
    solutions_dir = Path(solutions_dir or COURSE_ROOT / "solutions")
    labs_dir = Path(labs_dir or COURSE_ROOT / "labs")
    sources = sorted(solutions_dir.glob("*_lab.ipynb"))
    if not sources:
        raise AssignError(f"no solution notebooks (*_lab.ipynb) in {solutions_dir}")
    labs_dir.mkdir(parents=True, exist_ok=True)
    touched: list[Path] = []
    for src in sources:
        lab = make_lab(read_notebook(src), src.name)
        text = nbformat.writes(lab) + "\n"
        dest = lab_path_for(src, labs_dir)
        current = dest.read_text(encoding="utf-8") if dest.exists() else None
        if current != text:
            touched.append(dest)
            if not check:
                dest.write_text(text, encoding="utf-8")
    if check:
        expected = {lab_path_for(s, labs_dir).name for s in sources}
        touched += [p for p in sorted(labs_dir.glob("*_lab.ipynb")) if p.name not in expected]
    return touched
