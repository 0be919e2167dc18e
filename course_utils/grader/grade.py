"""Grade one saved lab notebook: identify the lab, run hidden tests in the sandbox, judge, score.

This is the single grading path used by ``course grade``, ``course validate`` and ``submit()``.

Questions whose cases set ``returns_kwargs`` are judged on ``(return value, {name: value after
the call})``, and their ``reference`` returns the same pair.

Scoring: each question is worth ``points x (tests passed / tests run)``. A test passes when the
sandbox returned plain data that the question's ``judge`` accepts against the reference computed
here, in the grader's process. A timeout or crash ends the question: the tests that had not
answered yet count as failed, and the sandbox is restarted for the next question.

Time: one wall-clock budget per submission (:data:`DEFAULT_BUDGET_S`, ``budget_s=`` or the
environment variable ``COURSE_GRADE_BUDGET``) covers reading and extracting the notebook (in a
limited child process, see :mod:`course_utils.grader.limited`), starting the sandbox, loading the
definitions, every question and decoding the answers; questions that cannot run before it ends
are marked ``timeout``. Nothing a submission contains stops a batch: every failure while reading,
decoding or judging becomes a file's :class:`SubmissionError` or a question's verdict.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..notebooks import MAX_NOTEBOOK_BYTES
from .extract import MAX_UNITS, program_from_plain, read_submission
from .limited import LimitExceeded, run_limited
from .registry import all_labs
from .safety import clean_text
from .sandbox import BudgetExhausted, CaseAnswer, QuestionAborted, Sandbox, SandboxLimits, describe_isolation
from .spec import Case, LabSpec, Question

__all__ = ["GRADER_VERSION", "SubmissionError", "QuestionResult", "GradeResult", "identify_lab",
           "grade_notebook", "grade_safely", "result_from_json", "new_seed", "default_budget",
           "read_submission_file", "DEFAULT_BUDGET_S", "EXTRACT_TIMEOUT_S"]

GRADER_VERSION = f"{__version__}+grader.2"
DEFAULT_BUDGET_S = 180.0       # one submission, everything included
EXTRACT_TIMEOUT_S = 30.0       # reading + extracting the notebook (inside the budget)
EXTRACT_MEMORY_BYTES = 2 * 1024**3
_LAB_FILE = re.compile(r"^(?P<lab>\d\d_[A-Za-z0-9_]+?)_lab$")


class SubmissionError(ValueError):
    """The file cannot be graded (not a notebook, not a lab of this course, the wrong lab ...)."""


@dataclass
class QuestionResult:
    """The outcome of one question. ``status``: passed, partial, failed, missing, not_implemented,
    timeout, crashed."""
    id: str
    title: str
    score: float
    max: float
    status: str
    message: str
    passed: int = 0
    tests: int = 0


@dataclass
class GradeResult:
    """Everything a report, the gradebook and ``--json`` need about one graded submission."""
    lab: str
    lab_title: str
    student: str
    path: str
    sha256: str
    seed: int
    questions: list[QuestionResult]
    started_at: str
    finished_at: str
    duration: float
    isolation: str
    notes: list[str] = field(default_factory=list)
    grader_version: str = GRADER_VERSION

    def __repr__(self) -> str:
        return f"<GradeResult {self.lab} {self.student}: {self.total:g}/{self.max:g}, seed {self.seed}>"

    @property
    def total(self) -> float:
        return round(sum(q.score for q in self.questions), 4)

    @property
    def max(self) -> float:
        return round(sum(q.max for q in self.questions), 4)

    def to_json(self) -> dict[str, Any]:
        """The machine-readable form printed by ``course grade --json``."""
        return {"student": self.student, "path": self.path, "lab": self.lab, "lab_title": self.lab_title,
                "total": self.total,
                "max": self.max, "seed": self.seed, "duration": round(self.duration, 3),
                "questions": [{"id": q.id, "title": q.title, "score": q.score, "max": q.max, "status": q.status,
                               "message": q.message, "passed": q.passed, "tests": q.tests}
                              for q in self.questions],
                "sha256": self.sha256, "grader_version": self.grader_version,
                "started_at": self.started_at, "finished_at": self.finished_at,
                "isolation": self.isolation, "notes": list(self.notes)}


def default_budget() -> float:
    """The per-submission budget: ``$COURSE_GRADE_BUDGET`` seconds if set, else :data:`DEFAULT_BUDGET_S`."""
    env = os.environ.get("COURSE_GRADE_BUDGET")
    if env:
        try:
            value = float(env)
        except ValueError:
            raise ValueError(f"COURSE_GRADE_BUDGET={env!r} is not a number of seconds") from None
        if value > 0:
            return value
    return DEFAULT_BUDGET_S


def read_submission_file(path: str | Path, max_bytes: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """The bytes of a submitted file, which must be a regular file (not a symbolic link, a
    device, a FIFO or a folder) no larger than ``max_bytes``; :class:`SubmissionError` otherwise."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise SubmissionError(f"{path}: no such file") from None
    except OSError as exc:
        raise SubmissionError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISLNK(st.st_mode):
        raise SubmissionError(f"{path}: is a symbolic link; submissions must be regular files (a link is not "
                              "graded as its target)")
    if not stat.S_ISREG(st.st_mode):
        raise SubmissionError(f"{path}: is not a regular file; submit the .ipynb notebook itself")
    if st.st_size > max_bytes:
        raise SubmissionError(f"{path}: submission too large: {st.st_size / 2**20:.1f} MB is larger than the "
                              f"{max_bytes / 2**20:.0f} MB limit; clear large outputs (Edit > Clear Outputs of All "
                              "Cells) and save again")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise SubmissionError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SubmissionError(f"{path}: is not a regular file; submit the .ipynb notebook itself")
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise SubmissionError(f"{path}: submission too large: more than the {max_bytes / 2**20:.0f} MB limit")
            chunks.append(chunk)
    except OSError as exc:
        raise SubmissionError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def new_seed() -> int:
    """A fresh grading seed (63 bits from ``secrets``)."""
    return secrets.randbits(63)


def identify_lab(nb: Any, path: str | Path) -> LabSpec:
    """The lab of a notebook: metadata ``course.lab``, else a file name ``NN_topic_lab.ipynb``."""
    meta = nb.get("metadata", {}).get("course", {})
    lab_id = meta.get("lab") if isinstance(meta, dict) else None
    return _lab_of(lab_id if type(lab_id) is str else None, path)


def _lab_of(lab_id: str | None, path: str | Path) -> LabSpec:
    labs = all_labs()
    lab_id = clean_text(lab_id, 80, numbers=False) if lab_id else None
    source = "its metadata (course.lab)"
    if not lab_id:
        m = _LAB_FILE.match(Path(path).stem)
        lab_id, source = (m.group("lab"), "its file name") if m else (None, "")
    if not lab_id:
        raise SubmissionError(f"{path}: not a lab of this course: the notebook has no course.lab metadata and "
                              f"its name is not NN_topic_lab.ipynb; submit the lab notebook you were given "
                              f"(the course's labs are {', '.join(sorted(labs)) or 'none'})")
    if lab_id not in labs:
        raise SubmissionError(f"{path}: {source} says lab {lab_id!r}, which is not a lab of this course "
                              f"(the course's labs are {', '.join(sorted(labs)) or 'none'})")
    return labs[lab_id]


def _question_result(q: Question, cases: list[Case], answers: list[Any], aborted: str | None) -> QuestionResult:
    passed = 0
    first_problem = ""
    for case, ans in zip(cases, answers):
        if not ans.ok:
            first_problem = first_problem or f"{case.label or case.func}: {ans.error}"
            continue
        if case.returns_kwargs or case.shared:
            after = {k: ans.after.get(k) for k in case.returns_kwargs}
            after.update({k: ans.shared.get(k) for k in case.shared})   # read by the grader itself
            got = (ans.value, after)
        else:
            got = ans.value
        try:
            expected = q.reference(case)
            ok, msg = q.judge(got, expected, case)
            ok, msg = bool(ok), clean_text(msg, 300)
        except Exception as exc:  # an answer the judge cannot handle (e.g. a huge int) is a wrong answer
            ok, msg = False, f"the answer could not be compared ({type(exc).__name__}); it is not the expected kind of value"
        if ok:
            passed += 1
        else:
            first_problem = first_problem or f"{case.label or case.func}: {msg}"
    n = len(cases)
    score = round(q.points * passed / n, 4) if n else 0.0
    if aborted:
        aborted = clean_text(aborted, 400)
        status = "timeout" if "time limit" in aborted else "crashed"
        message = aborted + (f"; {passed} test(s) passed before that" if passed else "")
    elif passed == n:
        status, message = "passed", f"all {n} tests passed"
    elif answers and all(not a.ok and a.error == "not implemented" for a in answers):
        status, message = "not_implemented", "not implemented yet (the function still raises NotImplementedError)"
    else:
        status = "partial" if passed else "failed"
        message = f"{passed} of {n} tests passed; first problem: {clean_text(first_problem, 400)}"
    return QuestionResult(q.id, q.title, score, float(q.points), status, message, passed, n)


def _second_stage(box: Sandbox, q: Question, cases: list[Case], answers: list[CaseAnswer]) -> tuple[list[CaseAnswer], str | None]:
    """Run ``q.then`` for each answered case in a fresh sandbox process; pair the answers (see ``Question.then``)."""
    follow: list[tuple[int, Case]] = []
    for i, (case, ans) in enumerate(zip(cases, answers)):
        if ans.ok:
            try:
                nxt = q.then(case, ans.value) if q.then is not None else None
            except Exception:  # noqa: BLE001 -- a first answer the stage cannot use gives it nothing to run
                nxt = None
            if nxt is not None:
                follow.append((i, nxt))
    second: list[CaseAnswer] = []
    aborted = None
    if follow:
        box.close()                      # a fresh process: nothing of the first stage survives in it
        try:
            second = box.run_cases([c for _, c in follow], q.timeout_s)
        except QuestionAborted as exc:
            second, aborted = exc.answers, str(exc)
    out = [CaseAnswer(a.ok, value=(a.value, None), error=a.error) if a.ok else a for a in answers]
    for (i, _), ans in zip(follow, second):
        out[i] = CaseAnswer(True, value=(answers[i].value, ans.value)) if ans.ok else CaseAnswer(False, error=ans.error)
    for i, _ in follow[len(second):]:
        out[i] = CaseAnswer(False, error="the second stage did not run")
    return out, aborted


def grade_notebook(path: str | Path, *, student: str | None = None, seed: int | None = None,
                   expect_lab: str | None = None, limits: SandboxLimits | None = None,
                   private_paths: tuple[str, ...] = (), budget_s: float | None = None) -> GradeResult:
    """Grade one saved notebook; raise :class:`SubmissionError` when it cannot be graded.

    ``expect_lab`` rejects a notebook of another lab; ``budget_s`` is the wall-clock budget of the
    whole grading (default :func:`default_budget`); ``private_paths`` is kept for compatibility
    (the namespace sandboxes hide everything that is not on their allow-list).
    """
    path = Path(path)
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    budget = float(budget_s) if budget_s is not None else default_budget()
    deadline = time.monotonic() + budget
    raw = read_submission_file(path)
    sha = hashlib.sha256(raw).hexdigest()
    try:
        data = run_limited(read_submission, raw, str(path), EXTRACT_TIMEOUT_S * 0.8,
                           timeout_s=min(EXTRACT_TIMEOUT_S, max(0.1, deadline - time.monotonic())),
                           memory_bytes=EXTRACT_MEMORY_BYTES)
    except LimitExceeded as exc:
        raise SubmissionError(f"{path}: submission too large: reading the notebook {exc} (limits: "
                              f"{EXTRACT_TIMEOUT_S:g} s, {EXTRACT_MEMORY_BYTES // 2**30} GiB)") from None
    except RuntimeError as exc:
        raise SubmissionError(f"{path}: the notebook could not be read ({clean_text(exc, 200, numbers=False)})") from None
    if "error" in data:
        raise SubmissionError(str(data["error"]))
    lab = _lab_of(data.get("lab"), path)
    if expect_lab is not None:
        want = expect_lab.removesuffix("_lab")
        if lab.lab_id != want:
            raise SubmissionError(f"{path}: this is lab {lab.lab_id}, not lab {want}; "
                                  "submit the notebook of the lab you are being graded on")
    if len(data["units"]) > MAX_UNITS:
        raise SubmissionError(f"{path}: submission too large: {len(data['units'])} top-level definitions "
                              f"(imports, functions, classes, constants); the limit is {MAX_UNITS}")
    program = program_from_plain(data)
    seed = new_seed() if seed is None else int(seed)
    rng = np.random.default_rng(seed)
    all_cases = {q.id: list(q.make_cases(rng)) for q in lab.questions}  # drawn up front: reproducible
    defined = program.defined_names()
    results: list[QuestionResult] = []
    hidden = (str(path.resolve().parent), *private_paths)
    with Sandbox(program, limits=limits, private_paths=hidden, deadline=deadline) as box:
        for q in lab.questions:
            cases = all_cases[q.id]
            missing = [n for n in q.names if n not in defined]
            if missing:
                results.append(QuestionResult(q.id, q.title, 0.0, float(q.points), "missing",
                                              f"your notebook does not define {', '.join(missing)}", 0, len(cases)))
                continue
            try:
                answers, aborted = box.run_cases(cases, q.timeout_s), None
            except QuestionAborted as exc:   # BudgetExhausted included
                answers, aborted = exc.answers, str(exc)
            if q.then is not None and aborted is None:
                answers, aborted = _second_stage(box, q, cases, answers)
            results.append(_question_result(q, cases, answers, aborted))
        notes = [clean_text(n, 400, numbers=False) for n in program.problems]
        # a failure in a statement no graded answer depends on (the lab's own demonstration cells, which may use
        # the course's modules) cannot change a score: it is not worth a note
        needed = program.units_needed_by({n for q in lab.questions for n in q.names})
        notes += [clean_text(n, 500, numbers=False) for n, i in zip(box.load_errors, box.load_error_units)
                  if i is None or i in needed]
        isolation = f"{describe_isolation(box.mode)}; {box.describe_limits()}"
    return GradeResult(lab=lab.lab_id, lab_title=lab.title, student=student or path.stem, path=str(path),
                       sha256=sha, seed=seed, questions=results, started_at=started.isoformat(timespec="seconds"),
                       finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       duration=time.perf_counter() - t0, isolation=isolation, notes=notes)


def grade_safely(path: str, student: str | None = None, seed: int | None = None, expect_lab: str | None = None,
                 private: tuple[str, ...] = (), budget_s: float | None = None) -> dict[str, Any]:
    """Grade one file for a worker process: ``{"result": to_json()}``, ``{"error": bad input}`` or
    ``{"fatal": the sandbox failed}`` -- plain, picklable data. Never raises for a submission:
    an unexpected failure is reported as ``{"error": ...}`` for that file."""
    from .sandbox import SandboxError
    try:
        r = grade_notebook(path, student=student, seed=seed, expect_lab=expect_lab, private_paths=private,
                           budget_s=budget_s)
    except SubmissionError as exc:
        return {"error": str(exc)}
    except SandboxError as exc:
        return {"fatal": f"{path}: {exc}"}
    except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001 -- one file must not stop a batch
        return {"error": f"{path}: could not be graded ({type(exc).__name__}: {clean_text(exc, 200)}); "
                         "nothing was recorded"}
    return {"result": r.to_json()}


def result_from_json(data: dict[str, Any]) -> GradeResult:
    """Rebuild a :class:`GradeResult` from :meth:`GradeResult.to_json` (used across processes)."""
    qs = [QuestionResult(q["id"], q.get("title", q["id"]), q["score"], q["max"], q["status"], q["message"],
                         q.get("passed", 0), q.get("tests", 0)) for q in data["questions"]]
    return GradeResult(lab=data["lab"], lab_title=data.get("lab_title", data["lab"]), student=data["student"],
                       path=data["path"], sha256=data["sha256"], seed=data["seed"], questions=qs,
                       started_at=data["started_at"], finished_at=data["finished_at"], duration=data["duration"],
                       isolation=data["isolation"], notes=data.get("notes", []),
                       grader_version=data.get("grader_version", GRADER_VERSION))

