"""Pick, from a notebook's code cells, the statements the sandbox executes.

Only top-level imports, function and class definitions and simple literal assignments
(``n_hidden = 3``, ``VOCAB = ['h', 'e', 'l', 'o']``) are kept; everything else -- ``check("q1")``
calls, training loops, plots, prints -- is dropped. Cells are first passed through IPython's input
transformer, so magics (``%matplotlib inline``, ``!ls``) parse; a cell that still does not parse
is skipped and reported.

Answers are found by the names they define: when a name is defined more than once, only the last
definition (in notebook order) is kept, so deleted, reordered or duplicated cells do not matter.

A cell that parses as plain Python is not passed through IPython at all (the transformer only
rewrites what is not Python). The transformer's cost is quadratic in some inputs (a long cell of
``x?`` lines), so each cell gets :data:`CELL_SECONDS` of it (when called from the main thread);
a cell that takes longer is skipped and reported. The grader never runs any of this in its own
process: :func:`course_utils.grader.grade.grade_notebook` calls :func:`read_submission` through
:func:`course_utils.grader.limited.run_limited` (a forked child with time and memory limits).
"""

from __future__ import annotations

import ast
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Unit", "Program", "extract_program", "extract_from_sources", "read_submission", "program_from_plain",
           "MAX_UNITS", "CELL_SECONDS"]

MAX_UNITS = 2000          # top-level definitions kept from one notebook ("submission too large" above)
CELL_SECONDS = 5.0        # IPython input transformer time per cell


class _CellTimeout(Exception):
    pass


@dataclass(frozen=True)
class Unit:
    """One top-level statement to execute: where it comes from, what it defines, its source."""
    cell: int           # index of the code cell (0-based, counting code cells only)
    line: int           # first line within the cell (1-based)
    kind: str           # "import", "def", "class", "assign"
    names: tuple[str, ...]
    source: str
    mentions: tuple[str, ...] = ()   # the identifiers its source reads or declares global


@dataclass
class Program:
    """The statements of a notebook that the sandbox runs, plus what was skipped and why."""
    units: list[Unit] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def defined_names(self) -> set[str]:
        return {n for u in self.units for n in u.names}

    def units_needed_by(self, names: set[str]) -> set[int]:
        """Indices of the units that the given names depend on: those defining them and, transitively, those
        defining any identifier their source mentions."""
        wanted, needed = set(names), set()
        while True:
            new = {i for i, u in enumerate(self.units) if i not in needed and set(u.names) & wanted}
            if not new:
                return needed
            needed |= new
            for i in new:
                wanted.update(self.units[i].mentions)

    def to_plain(self) -> list[dict[str, Any]]:
        return [{"cell": u.cell, "line": u.line, "kind": u.kind, "names": list(u.names), "source": u.source,
                 "mentions": list(u.mentions)} for u in self.units]


def _transform(source: str, seconds: float = CELL_SECONDS) -> str:
    """IPython's input transformation of a cell (plain Python is returned unchanged, at once)."""
    try:
        ast.parse(source)
        return source
    except (SyntaxError, ValueError):
        pass
    from IPython.core.inputtransformer2 import TransformerManager
    if threading.current_thread() is not threading.main_thread():
        return TransformerManager().transform_cell(source)

    def _alarm(signum: int, frame: Any) -> None:
        raise _CellTimeout

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, max(0.01, seconds))
    try:
        return TransformerManager().transform_cell(source)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _is_literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _classify(stmt: ast.stmt) -> tuple[str, tuple[str, ...]] | None:
    if isinstance(stmt, ast.Import):
        return "import", tuple((a.asname or a.name).split(".")[0] for a in stmt.names)
    if isinstance(stmt, ast.ImportFrom):
        if any(a.name == "*" for a in stmt.names):
            return "import", ()
        return "import", tuple(a.asname or a.name for a in stmt.names)
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return "def", (stmt.name,)
    if isinstance(stmt, ast.ClassDef):
        return "class", (stmt.name,)
    if isinstance(stmt, ast.Assign) and _is_literal(stmt.value):
        names: list[str] = []
        for target in stmt.targets:
            elts = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
            if not all(isinstance(e, ast.Name) for e in elts):
                return None
            names += [e.id for e in elts]  # type: ignore[union-attr]
        return "assign", tuple(names)
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
            and stmt.value is not None and _is_literal(stmt.value):
        return "assign", (stmt.target.id,)
    return None


def extract_from_sources(sources: list[str], time_limit_s: float | None = None) -> Program:
    """Build the :class:`Program` of a list of code-cell sources (in notebook order).

    ``time_limit_s`` bounds the IPython transformation of all cells together: once it is spent,
    the cells that still need it are skipped (and reported).
    """
    program = Program()
    candidates: list[Unit] = []
    deadline = None if time_limit_s is None else time.monotonic() + time_limit_s
    for i, raw in enumerate(sources):
        seconds = CELL_SECONDS if deadline is None else min(CELL_SECONDS, deadline - time.monotonic())
        try:
            text = _transform(raw, seconds)
            tree = ast.parse(text)
        except SyntaxError as exc:
            line = f" line {exc.lineno}" if exc.lineno else ""
            program.problems.append(f"code cell {i + 1}{line}: syntax error ({exc.msg}); this cell was skipped")
            continue
        except _CellTimeout:
            program.problems.append(f"code cell {i + 1}: reading it took longer than {max(seconds, 0):.3g} s "
                                    "(IPython syntax such as ? or % on very many lines); this cell was skipped")
            continue
        except (RecursionError, MemoryError) as exc:
            program.problems.append(f"code cell {i + 1}: too deeply nested or too large to read "
                                    f"({type(exc).__name__}); this cell was skipped")
            continue
        except Exception as exc:  # IPython's transformer can raise on odd input
            program.problems.append(f"code cell {i + 1}: could not be read ({type(exc).__name__}); skipped")
            continue
        lines = _LINE_BREAK.split(text)      # as Python's parser counts lines (not str.splitlines: \f, \u2028 ...)
        for stmt in tree.body:
            found = _classify(stmt)
            if found is None:
                continue
            kind, names = found
            start, src = _statement_source(lines, stmt)
            mentions = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
            mentions.update(a for n in ast.walk(stmt) if isinstance(n, ast.Global) for a in n.names)
            candidates.append(Unit(cell=i, line=start, kind=kind, names=names, source=src,
                                   mentions=tuple(sorted(mentions))))
    # last definition wins: drop a def/class/assign whose every name is defined again later
    later: set[str] = set()
    keep: list[Unit] = []
    for unit in reversed(candidates):
        if unit.kind != "import" and unit.names and set(unit.names) <= later:
            continue
        later.update(unit.names)
        keep.append(unit)
    program.units = keep[::-1]
    return program


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _statement_source(lines: list[str], stmt: ast.stmt) -> tuple[int, str]:
    """The first line and the exact text of one top-level statement, decorators included.

    Exact, not whole lines: in ``import a; import b`` (or ``x = 1; f()``) each statement is only
    itself, so a unit never runs its neighbours' code and the units together are no larger than the cell.
    (ast's column offsets count UTF-8 bytes.)
    """
    decorators = getattr(stmt, "decorator_list", [])
    first = min([stmt] + decorators, key=lambda n: (n.lineno, n.col_offset))
    start_line = first.lineno
    start_col = first.col_offset - 1 if first is not stmt else stmt.col_offset   # a decorator's "@"
    end_line, end_col = stmt.end_lineno or stmt.lineno, stmt.end_col_offset
    chunk = [ln.encode("utf-8") for ln in lines[start_line - 1:end_line]]
    if not chunk:
        return start_line, ""
    if end_col is not None:
        chunk[-1] = chunk[-1][:end_col]
    chunk[0] = chunk[0][max(start_col, 0):]
    return start_line, "\n".join(c.decode("utf-8", "replace") for c in chunk)


def extract_program(nb: Any, time_limit_s: float | None = None) -> Program:
    """The :class:`Program` of a notebook (an ``nbformat`` node or a plain dict)."""
    sources = []
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code":
            src = cell.get("source", "")
            sources.append("".join(src) if isinstance(src, list) else str(src))
    return extract_from_sources(sources, time_limit_s)


def program_from_plain(data: dict[str, Any]) -> Program:
    """Rebuild a :class:`Program` from ``{"units": Program.to_plain(), "problems": [...]}``."""
    units = [Unit(cell=int(u["cell"]), line=int(u["line"]), kind=str(u["kind"]),
                  names=tuple(str(n) for n in u["names"]), source=str(u["source"]),
                  mentions=tuple(str(n) for n in u.get("mentions", ()))) for u in data["units"]]
    return Program(units=units, problems=[str(p) for p in data["problems"]])


def read_submission(raw: bytes, name: str, time_limit_s: float | None = None) -> dict[str, Any]:
    """Parse a submitted notebook's bytes and extract its program (meant for a limited child).

    Returns plain data: ``{"error": message}`` for a file that is not a readable nbformat-4
    notebook, else ``{"lab": course.lab metadata or None, "units": [...], "problems": [...]}``.
    """
    import nbformat
    if b"\x00" in raw[:8192]:
        return {"error": f"{name}: this is a binary file, not a Jupyter notebook (.ipynb is JSON text)"}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return {"error": f"{name}: not UTF-8 text ({exc}); a notebook is a UTF-8 JSON file"}
    try:
        nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    except Exception as exc:  # nbformat raises several types for bad JSON
        return {"error": f"{name}: not valid notebook JSON ({type(exc).__name__}: {str(exc)[:200]}); "
                         "was the file edited outside Jupyter or truncated?"}
    if not isinstance(nb, dict) or nb.get("nbformat") != 4:
        return {"error": f"{name}: nbformat {nb.get('nbformat') if isinstance(nb, dict) else '?'} is not "
                         "supported; save the notebook with JupyterLab 3 or newer (nbformat 4)"}
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        return {"error": f"{name}: the notebook does not follow the nbformat 4 schema: {str(exc.message)[:200]}"}
    meta = nb.get("metadata", {}).get("course", {})
    lab = meta.get("lab") if isinstance(meta, dict) else None
    program = extract_program(nb, time_limit_s)
    return {"lab": lab if type(lab) is str else None, "units": program.to_plain(), "problems": program.problems}
