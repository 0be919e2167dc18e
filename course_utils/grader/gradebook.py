"""The gradebook: one SQLite row per graded attempt (standard library ``sqlite3``, WAL mode).

Many ``course grade`` processes may write at once: each attempt is one ``INSERT`` in its own
``BEGIN IMMEDIATE`` transaction, with a generous busy timeout, so writers queue instead of failing
and a crash leaves either the whole row or nothing.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO, Any

from ..notebooks import COURSE_ROOT
from .grade import GradeResult

__all__ = ["default_gradebook_path", "Gradebook"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    student        TEXT NOT NULL,
    lab            TEXT NOT NULL,
    scores         TEXT NOT NULL,      -- JSON: {question id: {"score", "max", "status"}}
    total          REAL NOT NULL,
    max            REAL NOT NULL,
    started_at     TEXT NOT NULL,
    finished_at    TEXT NOT NULL,
    recorded_at    TEXT NOT NULL,
    seed           TEXT NOT NULL,      -- text: seeds are 63-bit
    grader_version TEXT NOT NULL,
    notebook_sha256 TEXT NOT NULL,
    path           TEXT NOT NULL,
    duration       REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_lab_student ON attempts (lab, student);
CREATE INDEX IF NOT EXISTS attempts_student_sha ON attempts (student, notebook_sha256);
"""
COLUMNS = ("id", "student", "lab", "total", "max", "started_at", "finished_at", "recorded_at", "seed",
           "grader_version", "notebook_sha256", "path", "duration", "scores")


def formula_safe(value: Any) -> str:
    """``value`` as an inert CSV cell: one line of plain text (control characters, ANSI escapes and invisible
    characters removed, see :func:`~course_utils.grader.safety.clean_text`) that no spreadsheet evaluates --
    text starting with ``= + - @``, a tab or a carriage return gets a leading apostrophe (OWASP's advice
    against CSV formula injection)."""
    from .safety import clean_text
    raw = str(value)
    text = clean_text(raw, 2000, numbers=False)
    return "'" + text if raw[:1] in ("=", "+", "-", "@", "\t", "\r") or text[:1] in ("=", "+", "-", "@") else text


def default_gradebook_path() -> Path:
    """``$COURSE_GRADEBOOK``, else ``grades/gradebook.sqlite`` in the course folder (ignored by git)."""
    env = os.environ.get("COURSE_GRADEBOOK")
    return Path(env) if env else COURSE_ROOT / "grades" / "gradebook.sqlite"


class Gradebook:
    """A gradebook file; open one per process (``sqlite3`` connections are not shared)."""

    def __init__(self, path: str | Path | None = None, busy_timeout_s: float = 60.0):
        self.path = Path(path) if path is not None else default_gradebook_path()
        self.busy_timeout_s = busy_timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            self._retry(lambda: con.execute("PRAGMA journal_mode=WAL"))
            self._retry(lambda: con.executescript(_SCHEMA))

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            con.execute("PRAGMA synchronous=NORMAL")
            yield con
        finally:
            con.close()

    def _retry(self, fn: Any) -> Any:
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def record(self, result: GradeResult) -> int:
        """Append one attempt atomically; return its row id. The student id must pass
        :func:`~course_utils.grader.safety.check_student_id` (:class:`~course_utils.grader.safety.StudentIdError`)."""
        from .safety import check_student_id
        check_student_id(result.student)
        scores = {q.id: {"score": q.score, "max": q.max, "status": q.status} for q in result.questions}
        row = (result.student, result.lab, json.dumps(scores), result.total, result.max, result.started_at,
               result.finished_at, time.strftime("%Y-%m-%dT%H:%M:%S%z"), str(result.seed),
               result.grader_version, result.sha256, result.path, round(result.duration, 3))

        def insert() -> int:
            with self._connect() as con:
                con.execute("BEGIN IMMEDIATE")
                try:
                    cur = con.execute(
                        "INSERT INTO attempts (student, lab, scores, total, max, started_at, finished_at, "
                        "recorded_at, seed, grader_version, notebook_sha256, path, duration) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                return int(cur.lastrowid or 0)
        return self._retry(insert)

    def rows(self, lab: str | None = None, student: str | None = None) -> list[dict[str, Any]]:
        """All attempts (oldest first), optionally of one lab and/or student."""
        sql = f"SELECT {', '.join(COLUMNS)} FROM attempts"
        where, args = [], []
        if lab:
            where.append("lab = ?")
            args.append(lab.removesuffix("_lab"))
        if student:
            where.append("student = ?")
            args.append(student)
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._connect() as con:
            cur = con.execute(sql + " ORDER BY id", args)
            return [dict(zip(COLUMNS, r)) for r in cur.fetchall()]

    def export_csv(self, path: str | Path, lab: str | None = None) -> int:
        """Write attempts as CSV (one column per question score); return the number of rows."""
        rows = self.rows(lab=lab)
        qids: list[str] = []
        for r in rows:
            for q in json.loads(r["scores"]):
                if q not in qids:
                    qids.append(q)
        fields = [c for c in COLUMNS if c != "scores"] + qids
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            for r in rows:
                scores = json.loads(r.pop("scores"))
                r = {k: formula_safe(v) if isinstance(v, str) else v for k, v in r.items()}
                w.writerow({**r, **{q: scores.get(q, {}).get("score", "") for q in qids}})
        return len(rows)

    def latest(self, student: str, sha256: str, lab: str | None = None) -> dict[str, Any] | None:
        """The latest attempt of ``student`` that graded a notebook with this SHA-256, or ``None``."""
        sql = f"SELECT {', '.join(COLUMNS)} FROM attempts WHERE student = ? AND notebook_sha256 = ?"
        args: list[Any] = [student, sha256]
        if lab:
            sql += " AND lab = ?"
            args.append(lab.removesuffix("_lab"))
        with self._connect() as con:
            row = con.execute(sql + " ORDER BY id DESC LIMIT 1", args).fetchone()
        return dict(zip(COLUMNS, row)) if row else None

    def export_canvas(self, out: str | Path | IO[str], lab: str | None = None, *, detail: bool = False,
                      policy: str = "latest") -> int:
        """Write a CSV that an LMS gradebook (Canvas) imports; return the number of students.

        Columns: ``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per lab
        (``Lab title (lab id)``, its total), and with ``detail`` one more per question
        (``lab id qN``). A second row, ``Points Possible``, holds the maxima. The attempt that
        counts is the latest one (``policy="latest"``) or the best (``"best"``). Student ids are
        the gradebook's (file or folder names, or ``--student``): they fill Student, SIS User ID and
        SIS Login ID. Cells that a spreadsheet would read as a formula are prefixed with ``'``.
        """
        if policy not in ("latest", "best"):
            raise ValueError(f"policy must be 'latest' or 'best', not {policy!r}")
        from .registry import all_labs
        titles = {k: v.title for k, v in all_labs().items()}
        rows = self.rows(lab=lab)
        chosen: dict[tuple[str, str], dict[str, Any]] = {}
        for r in rows:   # oldest first
            key = (r["student"], r["lab"])
            if policy == "latest" or key not in chosen or r["total"] > chosen[key]["total"]:
                chosen[key] = r
        labs = sorted({lab_id for _, lab_id in chosen})
        qids: dict[str, list[str]] = {lab_id: [] for lab_id in labs}
        maxima: dict[str, float] = {}
        qmax: dict[tuple[str, str], float] = {}
        for (_, lab_id), r in chosen.items():
            maxima[lab_id] = max(maxima.get(lab_id, 0.0), float(r["max"]))
            for qid, q in json.loads(r["scores"]).items():
                if qid not in qids[lab_id]:
                    qids[lab_id].append(qid)
                qmax[(lab_id, qid)] = max(qmax.get((lab_id, qid), 0.0), float(q.get("max", 0)))
        header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
        points = ["Points Possible", "", "", "", ""]
        for lab_id in labs:
            header.append(f"{titles.get(lab_id, lab_id)} ({lab_id})")
            points.append(f"{maxima[lab_id]:g}")
            if detail:
                for qid in qids[lab_id]:
                    header.append(f"{lab_id} {qid}")
                    points.append(f"{qmax[(lab_id, qid)]:g}")
        students = sorted({s for s, _ in chosen})

        cell = formula_safe

        target = open(out, "w", newline="", encoding="utf-8") if isinstance(out, (str, Path)) else nullcontext(out)
        with target as f:
            w = csv.writer(f)
            w.writerow([cell(h) for h in header])
            w.writerow(points)
            for student in students:
                line = [cell(student), "", cell(student), cell(student), ""]
                for lab_id in labs:
                    r = chosen.get((student, lab_id))
                    line.append(f"{r['total']:g}" if r else "")
                    if detail:
                        scores = json.loads(r["scores"]) if r else {}
                        line += [f"{scores[q]['score']:g}" if q in scores else "" for q in qids[lab_id]]
                w.writerow(line)
        return len(students)
