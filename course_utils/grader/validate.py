"""``course validate``: prove each lab's grader tells right from wrong.

For every lab in the registry that has ``solutions/<lab>_lab.ipynb``:

* the solution notebook gets full marks, with no grader note (a correct lab must not be warned about anything);
* the generated blank lab ``labs/<lab>_lab.ipynb`` gets 0 -- graded, not crashed or timed out;
* each mutant ``tests/mutants/<lab>/*.py`` loses points on the questions it names.

A mutant file starts with ``# mutant: <description>; expect: q2[, q3]`` and continues with
replacement definitions; it is appended as a last code cell of a copy of the solution (the last
definition of a name wins) and that copy is graded through the normal grading path.
"""

from __future__ import annotations

import copy
import multiprocessing
import re
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from ..notebooks import COURSE_ROOT, read_notebook
from .grade import grade_safely
from .registry import all_labs

__all__ = ["ValidationCheck", "Mutant", "parse_mutant", "validate_all", "format_table"]

_HEADER = re.compile(r"^#\s*mutant:\s*(?P<desc>.+?);\s*expect:\s*(?P<qs>[\w\s,]+?)\s*$")


@dataclass
class ValidationCheck:
    """One line of the validation table."""
    lab: str
    what: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Mutant:
    """A plausible wrong answer: what it gets wrong, which questions must lose points, its code."""
    path: Path
    description: str
    expect: tuple[str, ...]
    source: str


def parse_mutant(path: str | Path) -> Mutant:
    """Read a mutant file; ``ValueError`` saying what the first line must look like."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0] if text else ""
    m = _HEADER.match(first)
    if not m:
        raise ValueError(f"{path}: the first line must be '# mutant: <what is wrong>; expect: q1[, q2]', "
                         f"got {first[:80]!r}")
    qs = tuple(q.strip() for q in m.group("qs").split(",") if q.strip())
    return Mutant(path, m.group("desc").strip(), qs, text)


def _with_cell(nb: Any, source: str) -> Any:
    out = copy.deepcopy(nb)
    out.cells.append(nbformat.v4.new_code_cell(source))
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) < (4, 5):
        out.cells[-1].pop("id", None)
    return out


def validate_all(lab: str | None = None, mutants_dir: str | Path | None = None,
                 root: str | Path | None = None, jobs: int = 2) -> list[ValidationCheck]:
    """Run every check (solutions, blanks, mutants); grading runs ``jobs`` at a time."""
    root = Path(root) if root is not None else COURSE_ROOT
    mutants_dir = Path(mutants_dir) if mutants_dir is not None else root / "tests" / "mutants"
    checks: list[ValidationCheck | int] = []                  # a finished check, or an index into tasks
    tasks: list[tuple[str, str, str, tuple[str, ...]]] = []   # (lab, what, path, expected losers)

    def add_task(*task: Any) -> None:
        checks.append(len(tasks))
        tasks.append(task)  # type: ignore[arg-type]

    tmp = tempfile.TemporaryDirectory(prefix="course-validate-")
    try:
        for lab_id, spec in all_labs().items():
            if lab and lab_id != lab.removesuffix("_lab"):
                continue
            solution = root / "solutions" / f"{lab_id}_lab.ipynb"
            if not solution.is_file():
                continue
            add_task(lab_id, "solution gets full marks and no note", str(solution), ())
            blank = root / "labs" / f"{lab_id}_lab.ipynb"
            if blank.is_file():
                add_task(lab_id, "blank lab gets 0", str(blank), ())
            else:
                checks.append(ValidationCheck(lab_id, "blank lab gets 0", False,
                                              f"{blank} is missing; run `course assign`"))
            sol_nb = read_notebook(solution)
            qids = {q.id for q in spec.questions}
            for i, mpath in enumerate(sorted((mutants_dir / lab_id).glob("*.py"))):
                try:
                    mutant = parse_mutant(mpath)
                except ValueError as exc:
                    checks.append(ValidationCheck(lab_id, f"mutant {mpath.name}", False, str(exc)))
                    continue
                unknown = [q for q in mutant.expect if q not in qids]
                if unknown:
                    checks.append(ValidationCheck(lab_id, f"mutant {mpath.name}", False,
                                                  f"names unknown question(s) {unknown}; lab has {sorted(qids)}"))
                    continue
                d = Path(tmp.name) / f"m{i}_{lab_id}"
                d.mkdir()
                target = d / f"{lab_id}_lab.ipynb"
                nbformat.write(_with_cell(sol_nb, mutant.source), str(target))
                add_task(lab_id, f"mutant {mpath.name} ({mutant.description}) loses on "
                         f"{', '.join(mutant.expect)}", str(target), mutant.expect)
        if jobs > 1 and len(tasks) > 1:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                outcomes = list(pool.map(grade_safely, [t[2] for t in tasks], ["validate"] * len(tasks)))
        else:
            outcomes = [grade_safely(t[2], "validate") for t in tasks]
    finally:
        tmp.cleanup()
    return [c if isinstance(c, ValidationCheck) else _judge(tasks[c][0], tasks[c][1], tasks[c][3], outcomes[c])
            for c in checks]


def _judge(lab_id: str, what: str, expect: tuple[str, ...], out: dict[str, Any]) -> ValidationCheck:
    if "result" not in out:
        return ValidationCheck(lab_id, what, False, f"could not grade: {out.get('error') or out.get('fatal')}")
    r = out["result"]
    qs = {q["id"]: q for q in r["questions"]}
    summary = f"{r['total']:g}/{r['max']:g} (seed {r['seed']})"
    if what.startswith("solution"):
        lost = [f"{q['id']}: {q['status']} -- {q['message']}" for q in qs.values() if q["score"] < q["max"]]
        lost += [f"note: {n}" for n in r.get("notes", [])]
        return ValidationCheck(lab_id, what, not lost, summary + ("; " + "; ".join(lost) if lost else ""))
    if what.startswith("blank"):
        bad = [f"{q['id']}: {q['status']} {q['score']:g} -- {q['message']}" for q in qs.values()
               if q["score"] > 0 or q["status"] in ("crashed", "timeout")]
        return ValidationCheck(lab_id, what, not bad, summary + ("; " + "; ".join(bad) if bad else ""))
    kept = [q for q in expect if qs[q]["score"] >= qs[q]["max"]]
    detail = summary + "; " + ", ".join(f"{q} {qs[q]['score']:g}/{qs[q]['max']:g}" for q in expect)
    if kept:
        detail += f"; still full marks on {', '.join(kept)} -- the hidden tests miss this mistake"
    return ValidationCheck(lab_id, what, not kept, detail)


def format_table(checks: list[ValidationCheck]) -> str:
    """A plain-text table: one line per check, OK / FAIL first."""
    if not checks:
        return "(no checks)"
    width = min(70, max(len(c.what) for c in checks))
    lines = [f"{'':4}  {'lab':<16} {'check':<{width}}  detail"]
    for c in checks:
        lines.append(f"{'OK' if c.ok else 'FAIL':4}  {c.lab:<16} {c.what[:width]:<{width}}  {c.detail}")
    return "\n".join(lines)
