"""``course release OUT``: the student edition of the course.

What goes in: the lectures (with their outputs), the generated labs, ``data/`` (not the download cache),
``course_utils`` with each lab spec cut down to its public checks (:mod:`.spec_split`; the references
those checks need answered from recorded calls, :mod:`.replay`), the setup files (``pyproject.toml``,
``requirements/``, ``environment.yml``), and a README, Makefile and ``tests/`` written for students
(``make lab``, ``make test`` checks the installation and that every lab's public checks run,
``make test-lectures`` validates the lectures with nbval).

What stays out: ``solutions/``, the instructor's ``tests/`` (mutants, hostile notebooks), ``benchmarks/``,
CI files, the hidden tests, references, judges, probes and reference sources of every lab spec. The build
fails (:class:`ReleaseError`) when a file it would write still holds a solution block
(``### BEGIN SOLUTION`` on a line of its own) or a line of a solution block of ``solutions/``.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..notebooks import COURSE_ROOT, read_notebook
from . import spec_split
from .edition import MARKER
from .replay import TABLE_DIR, save_table

__all__ = ["ReleaseError", "ReleaseReport", "build_release", "solution_lines", "STUDENT_MAKEFILE"]

_LABS_PKG = Path("course_utils/grader/labs")
_SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", "cache"}
_TOP_FILES = ("pyproject.toml", "environment.yml", "LICENSE")
_TOP_DIRS = ("course_utils", "lectures", "labs", "data", "requirements", "binder")   # binder/: repo2docker for Binder and hubs
_SOLUTION_LINE = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$", re.M)


class ReleaseError(RuntimeError):
    """The student edition cannot be written (folder not empty, a solution would leak ...)."""


@dataclass
class ReleaseReport:
    """What went into the edition."""
    out: Path
    files: list[Path] = field(default_factory=list)
    bytes: int = 0
    replayed: dict[str, list[str]] = field(default_factory=dict)     # lab module -> references answered from records
    kept_as_code: dict[str, list[str]] = field(default_factory=dict)  # references the checks call on the answer
    withheld: dict[str, list[str]] = field(default_factory=dict)      # lab module -> top-level names left out
    shared_lines: dict[str, int] = field(default_factory=dict)        # library file / lecture -> solution lines it shares

    def summary(self) -> str:
        groups: dict[str, list[int]] = {}
        for f in self.files:
            top = f.relative_to(self.out).parts[0]
            groups.setdefault(top, [0, 0])
            groups[top][0] += 1
            groups[top][1] += f.stat().st_size
        lines = [f"student edition in {self.out}: {len(self.files)} files, {self.bytes / 2**20:.1f} MiB"]
        lines += [f"  {name:<16} {n:>4} files  {size / 2**10:>9.0f} KiB" for name, (n, size) in sorted(groups.items())]
        for mod, names in sorted(self.replayed.items()):
            lines.append(f"  {mod}: references answered from recorded calls: {', '.join(names) or '-'}")
        for mod, names in sorted(self.kept_as_code.items()):
            if names:
                lines.append(f"  {mod}: kept as code (the checks call them on the student's answer): {', '.join(names)}")
        if self.shared_lines:
            lines.append("  course library and lectures sharing lines with solution blocks (the reference code the lectures "
                         "teach with): " + ", ".join(f"{k} ({v})" for k, v in sorted(self.shared_lines.items())))
        lines.append("  left out: solutions/, the instructor's tests/ (mutants, hostile notebooks), benchmarks/, "
                     "hidden tests, references, judges and probes of every lab")
        return "\n".join(lines)


STUDENT_MAKEFILE = r"""# Student edition of the course: set up, open JupyterLab on your copies, test the installation.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.course-installed
KERNEL := course-cnn-rnn
WORKSPACE ?= $(CURDIR)/workspace

.PHONY: setup lab test test-lectures clean

IS_311 := import sys; sys.exit(sys.version_info[:2] != (3, 11))
ifeq ($(filter clean,$(MAKECMDGOALS)),)
ifneq ($(wildcard $(VENV)),)
ifneq ($(shell $(PY) -c '$(IS_311)' 2>/dev/null && echo ok),ok)
$(error $(VENV)/ was not built with Python 3.11: run 'make clean', then 'make PYTHON=/path/to/python3.11 $(MAKECMDGOALS)')
endif
else ifneq ($(shell $(PYTHON) -c '$(IS_311)' 2>/dev/null && echo ok),ok)
$(error the course needs Python 3.11 and '$(PYTHON)' is not; run 'make PYTHON=/path/to/python3.11 $(MAKECMDGOALS)' (README, Quick start))
endif
endif

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e . pytest nbval
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python 3 (CNN & RNN course)" > /dev/null
	@touch $(STAMP)
	@echo "course environment ready in $(VENV)/ (kernel: $(KERNEL))"

ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup
	@$(VENV)/bin/course workspace --dir "$(WORKSPACE)" | tail -1
	$(VENV)/bin/jupyter lab --notebook-dir="$(WORKSPACE)" $(ROOT_FLAG) $(LAB_ARGS)

# the installation works and every lab's public checks run (a minute)
test: setup
	$(PY) -m pytest -q -p no:cacheprovider tests

# the lectures, run afresh, print what their saved outputs show (nbval; several minutes)
test-lectures: setup
	COURSE_HEADLESS=1 $(PY) -m pytest -p no:cacheprovider --nbval --nbval-current-env \
	    --nbval-sanitize-with tests/nbval_sanitize.cfg -p tests.nbval_patience lectures

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
"""

STUDENT_TESTS = '''"""Tests of the student edition: the installation works and every lab's public checks run.

Run with `make test`. They never need your answers: a lab's checks are run on the lab as it was handed out
(each says "not implemented yet"), which is enough to show that they find their inputs and expected values.
"""

import contextlib
import io
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted((ROOT / "labs").glob("*_lab.ipynb"))


def test_the_course_package_and_its_libraries_import():
    import numpy, torch, nbformat  # noqa: F401,E401
    import course_utils
    from course_utils.cli import build_parser
    assert build_parser().prog == "course"
    assert (ROOT / "course_utils").resolve() == Path(course_utils.__file__).resolve().parent


def test_this_is_the_student_edition_without_answers():
    from course_utils.delivery.edition import is_student_edition
    assert is_student_edition()
    assert not (ROOT / "solutions").exists()


@pytest.mark.parametrize("path", LABS, ids=[p.stem for p in LABS])
def test_every_public_check_of_the_lab_runs(path):
    from course_utils.delivery.spec_split import namespace_of, run_public_checks
    from course_utils.grader.registry import get_lab
    from course_utils.notebooks import read_notebook
    nb = read_notebook(path)
    lab = get_lab(nb.metadata["course"]["lab"])
    verdicts = run_public_checks(lab, namespace_of(nb))
    assert set(verdicts) == {q.id for q in lab.questions}
    # untouched, every answer still raises NotImplementedError: nothing else may go wrong in a check
    assert set(verdicts.values()) <= {"NotImplementedError", "missing"}, verdicts


def test_grading_here_says_where_to_hand_in(tmp_path):
    from course_utils.grader.grade import SubmissionError, grade_notebook
    lab = LABS[0]
    copy = tmp_path / lab.name
    copy.write_bytes(lab.read_bytes())
    with pytest.raises(SubmissionError, match="hand in"):
        grade_notebook(copy)
'''

GITIGNORE = ".venv/\n__pycache__/\n*.egg-info/\nbuild/\ndata/cache/\nworkspace/\nruns/\ngrades/\n.ipynb_checkpoints/\n"


def solution_lines(solutions_dir: Path) -> set[str]:
    """The distinctive lines of every solution block (stripped; short or generic lines left out)."""
    from ..assign import BEGIN, END
    lines: set[str] = set()
    for path in sorted(solutions_dir.glob("*_lab.ipynb")):
        for cell in read_notebook(path).cells:
            inside = False
            for line in cell.source.split("\n"):
                s = line.strip()
                if s == BEGIN:
                    inside = True
                elif s == END:
                    inside = False
                elif inside and len(s) >= 30 and not s.startswith("#"):
                    lines.add(s)
    return lines


def _ignored(root: Path, paths: list[Path]) -> set[Path]:
    """Paths git ignores (none when this is not a git checkout)."""
    if not (root / ".git").exists() or not paths:
        return set()
    try:
        out = subprocess.run(["git", "-C", str(root), "check-ignore", "--stdin", "-z"], capture_output=True,
                             input=b"\0".join(str(p.relative_to(root)).encode() for p in paths), timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return {root / p.decode() for p in out.stdout.split(b"\0") if p}


def _source_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for top in _TOP_DIRS:
        for dirpath, dirnames, filenames in os.walk(root / top):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
            files += [Path(dirpath) / f for f in sorted(filenames) if not f.endswith((".pyc", ".bak"))]
    files += [root / f for f in _TOP_FILES if (root / f).is_file()]
    ignored = _ignored(root, files)
    return [f for f in files if f not in ignored]


def _commit(root: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=20).stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def public_lab_specs(root: Path, report: ReleaseReport, mutants: bool = True) -> dict[Path, bytes]:
    """Edition copies of the lab spec modules (relative path -> content), with their recorded tables.

    ``mutants``: also run the checks on every mutant of ``tests/mutants`` to find the references that depend on the
    answer (off: the blank lab only -- faster, for tests)."""
    from ..grader.validate import parse_mutant
    out: dict[Path, bytes] = {}
    common_needed: set[str] = set()
    for path in sorted((root / _LABS_PKG).glob("lab*.py")):
        module_name = f"course_utils.grader.labs.{path.stem}"
        module = importlib.import_module(module_name)
        lab = getattr(module, "LAB", None)
        analysis = spec_split.analyse(path.read_text(encoding="utf-8"))
        replayed: set[str] = set()
        if lab is not None and analysis.candidates:
            solution = root / "solutions" / f"{lab.lab_id}_lab.ipynb"
            if not solution.is_file():
                raise ReleaseError(f"{solution}: the solution of lab {lab.lab_id} is needed to record its public checks")
            sol_nb = read_notebook(solution)
            others = []
            blank = root / "labs" / solution.name
            if blank.is_file():
                others.append(spec_split.namespace_of(read_notebook(blank)))
            for mutant in sorted((root / "tests" / "mutants" / lab.lab_id).glob("*.py")) if mutants else ():
                others.append(spec_split.namespace_of(sol_nb, parse_mutant(mutant).source))
            rec = spec_split.record_public_calls(module, lab, sorted(analysis.candidates),
                                                 spec_split.namespace_of(sol_nb), others)
            replayed = {n for n in analysis.candidates if n in rec.calls} - rec.dependent - rec.unrecordable
            table = {n: rec.calls[n] for n in sorted(replayed)}
            buf = root / "build" / "release-tables" / f"{path.stem}.npz"
            save_table(buf, table)
            out[_LABS_PKG / TABLE_DIR / f"{path.stem}.npz"] = buf.read_bytes()
        text, kept = spec_split.rewrite(analysis, module_name, replayed)
        report.kept_as_code[path.stem] = sorted((analysis.candidates & kept) - replayed)
        report.replayed[path.stem] = sorted(replayed)
        report.withheld[path.stem] = sorted(set(analysis.graph) - kept)
        common_needed |= spec_split.imported_from_common(text)
        out[_LABS_PKG / path.name] = text.encode("utf-8")
    common = root / _LABS_PKG / "_common.py"
    if common.is_file():
        out[_LABS_PKG / "_common.py"] = spec_split.prune_common(common.read_text(encoding="utf-8"),
                                                               common_needed).encode("utf-8")
    return out


def student_readme(readme: str, commit: str) -> str:
    """The course README for students: instructor-only sections and rows left out, a note on top."""
    drop = {"For instructors", "Benchmarks", "Tests", "Instructors: running a class"}
    parts = re.split(r"(?m)^(?=## )", readme)
    kept = [p for p in parts if not (p.startswith("## ") and p[3:].split("\n", 1)[0].strip() in drop)]
    text = "".join(kept)
    text = "\n".join(line for line in text.split("\n")
                     if not re.search(r"`(solutions|benchmarks|tests)/", line) or not line.startswith("|"))
    note = (f"> **Student edition** (built by `course release` from commit {commit}). The labs' `check(\"q1\")` runs the "
            "public checks here; hand in your saved lab notebooks where your instructor says (Gradescope, "
            "PrairieLearn or the course's exchange), where the hidden tests grade them. `make test` checks your "
            "installation and that every lab's checks run; `make test-lectures` re-runs the lectures against their "
            "saved outputs (several minutes).\n\n")
    title_end = text.find("\n") + 1
    return text[:title_end] + "\n" + note + text[title_end:].lstrip("\n")


_STRICT = ("labs/", "course_utils/grader/", "course_utils/delivery/", "tests/", "README.md", "Makefile")


def _check_no_solutions(name: str, data: bytes, lines: set[str]) -> set[str]:
    """Fail on a solution block anywhere, and on a line of one in the labs, the grader, the tests or the README;
    return the solution lines that another file (the course library, a lecture) shares."""
    if not name.endswith((".py", ".ipynb", ".md", ".txt", ".cfg", ".toml", ".yml", ".json")) and name != "Makefile":
        return set()
    text = data.decode("utf-8", "replace")
    if _SOLUTION_LINE.search(text) or (name.endswith(".ipynb") and "### BEGIN SOLUTION" in text):
        raise ReleaseError(f"{name}: holds a solution block (### BEGIN SOLUTION); regenerate labs/ with `course assign`")
    flat = {s.strip() for s in text.replace("\\n", "\n").split("\n")}
    leaked = lines & flat
    if leaked and not name.startswith(_STRICT):
        return leaked
    if leaked:
        raise ReleaseError(f"{name}: holds {len(leaked)} line(s) of a solution block, e.g. {sorted(leaked)[0][:80]!r}")
    return set()


def build_release(out: str | Path, *, root: str | Path = COURSE_ROOT, force: bool = False,
                  mutants: bool = True) -> ReleaseReport:
    """Write the student edition into ``out`` (empty or new, unless ``force``); return what went in."""
    root, out = Path(root).resolve(), Path(out).resolve()
    if out == root or root in out.parents and out.parts[len(root.parts)] in _TOP_DIRS:
        raise ReleaseError(f"{out}: choose a folder outside the course's own folders")
    if out.exists() and not out.is_dir():
        raise ReleaseError(f"{out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ReleaseError(f"{out}: is not empty; choose a new folder or pass --force to replace its content")
        for child in out.iterdir():
            if child.name == ".git":          # a student repository being updated keeps its history
                continue
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    if not (root / "labs").is_dir() or not (root / "lectures").is_dir():
        raise ReleaseError(f"{root}: not a course checkout (no labs/ or lectures/)")
    report = ReleaseReport(out)
    commit = _commit(root)
    files: dict[Path, bytes] = {}
    for f in _source_files(root):
        rel = f.relative_to(root)
        if rel.parts[:4] == _LABS_PKG.parts and rel.suffix == ".py" and rel.name != "__init__.py":
            continue                                   # replaced by the public specs below
        if rel == MARKER.relative_to(COURSE_ROOT):
            continue
        files[rel] = f.read_bytes()
    files.update(public_lab_specs(root, report, mutants))
    files[Path("README.md")] = student_readme((root / "README.md").read_text(encoding="utf-8"), commit).encode()
    files[Path("Makefile")] = STUDENT_MAKEFILE.encode()
    files[Path(".gitignore")] = GITIGNORE.encode()
    files[Path("tests/test_edition.py")] = STUDENT_TESTS.encode()
    files[Path("tests/__init__.py")] = b""
    for name in ("nbval_sanitize.cfg", "nbval_patience.py"):
        if (root / "tests" / name).is_file():
            files[Path("tests") / name] = (root / "tests" / name).read_bytes()
    files[MARKER.relative_to(COURSE_ROOT)] = json.dumps(
        {"edition": "student", "commit": commit, "built": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        indent=1).encode()
    lines = solution_lines(root / "solutions") if (root / "solutions").is_dir() else set()
    published: set[str] = set()            # solution lines the lectures and the course library teach with anyway
    for rel, data in files.items():
        if not str(rel).startswith(_STRICT):
            shared = _check_no_solutions(str(rel), data, lines)
            if shared:
                report.shared_lines[str(rel)] = len(shared)
                published |= shared
    for rel, data in files.items():
        if str(rel).startswith(_STRICT):
            _check_no_solutions(str(rel), data, lines - published)
    for rel, data in sorted(files.items()):
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        report.files.append(dest)
        report.bytes += len(data)
    return report
