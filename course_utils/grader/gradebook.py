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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
"""
COLUMNS = ("id", "student", "lab", "total", "max", "started_at", "finished_at", "recorded_at", "seed",
           "grader_version", "notebook_sha256", "path", "duration", "scores")


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
        """Append one attempt atomically; return its row id."""
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
                w.writerow({**r, **{q: scores.get(q, {}).get("score", "") for q in qids}})
        return len(rows)
