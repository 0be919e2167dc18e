"""Pick, from a notebook's code cells, the statements the sandbox executes.

Only top-level imports, function and class definitions and simple literal assignments
(``n_hidden = 3``, ``VOCAB = ['h', 'e', 'l', 'o']``) are kept; everything else -- ``check("q1")``
calls, training loops, plots, prints -- is dropped. Cells are first passed through IPython's input
transformer, so magics (``%matplotlib inline``, ``!ls``) parse; a cell that still does not parse
is skipped and reported.

Answers are found by the names they define: when a name is defined more than once, only the last
definition (in notebook order) is kept, so deleted, reordered or duplicated cells do not matter.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Unit", "Program", "extract_program", "extract_from_sources"]


@dataclass(frozen=True)
class Unit:
    """One top-level statement to execute: where it comes from, what it defines, its source."""
    cell: int           # index of the code cell (0-based, counting code cells only)
    line: int           # first line within the cell (1-based)
    kind: str           # "import", "def", "class", "assign"
    names: tuple[str, ...]
    source: str


@dataclass
class Program:
    """The statements of a notebook that the sandbox runs, plus what was skipped and why."""
    units: list[Unit] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def defined_names(self) -> set[str]:
        return {n for u in self.units for n in u.names}

    def to_plain(self) -> list[dict[str, Any]]:
        return [{"cell": u.cell, "line": u.line, "kind": u.kind, "names": list(u.names), "source": u.source}
                for u in self.units]


def _transform(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager
    return TransformerManager().transform_cell(source)


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


def extract_from_sources(sources: list[str]) -> Program:
    """Build the :class:`Program` of a list of code-cell sources (in notebook order)."""
    program = Program()
    candidates: list[Unit] = []
    for i, raw in enumerate(sources):
        try:
            text = _transform(raw)
            tree = ast.parse(text)
        except SyntaxError as exc:
            line = f" line {exc.lineno}" if exc.lineno else ""
            program.problems.append(f"code cell {i + 1}{line}: syntax error ({exc.msg}); this cell was skipped")
            continue
        except Exception as exc:  # IPython's transformer can raise on odd input
            program.problems.append(f"code cell {i + 1}: could not be read ({type(exc).__name__}); skipped")
            continue
        lines = text.splitlines()
        for stmt in tree.body:
            found = _classify(stmt)
            if found is None:
                continue
            kind, names = found
            start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
            src = "\n".join(lines[start - 1:stmt.end_lineno])
            candidates.append(Unit(cell=i, line=start, kind=kind, names=names, source=src))
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


def extract_program(nb: Any) -> Program:
    """The :class:`Program` of a notebook (an ``nbformat`` node or a plain dict)."""
    sources = []
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code":
            src = cell.get("source", "")
            sources.append("".join(src) if isinstance(src, list) else str(src))
    return extract_from_sources(sources)
