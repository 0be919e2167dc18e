"""Gradescope: the autograder zip of a lab, and the ``results.json`` it writes.

Gradescope's contract (gradescope-autograders.readthedocs.io, "Autograder Specifications"): a zip with
``setup.sh`` and ``run_autograder`` at its root, unpacked into ``/autograder/source``; ``setup.sh`` runs
once, as root, when the image is built (Ubuntu); ``run_autograder`` runs for each submission in
``/autograder``, finds the student's files in ``/autograder/submission/`` and must write
``/autograder/results/results.json``: a top-level ``score``, ``execution_time`` (s), ``output``, and
``tests`` -- each with ``name``, ``number``, ``score``, ``max_score``, ``status`` (passed / failed),
``output`` and ``visibility`` (hidden, after_due_date, after_published, visible).
``/autograder/submission_metadata.json`` describes the submission and the student's
``previous_submissions`` (each with ``submission_time``, ``score``, ``results``).

What the zip holds: ``setup.sh``, ``run_autograder``, ``config.json`` (lab, budget, memory, visibility,
rate limit), ``course/`` (the course package and its pinned requirements, :mod:`.platform_files`).
For tests, ``COURSE_AUTOGRADER_ROOT`` moves ``/autograder`` and ``COURSE_AUTOGRADER_USE_PYTHON`` makes
``setup.sh`` check an existing Python environment instead of installing one.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..grader.registry import get_lab
from ..grader.safety import clean_text
from ..notebooks import COURSE_ROOT
from .autograde import Outcome
from .platform_files import TORCH_CPU_INDEX, TORCH_PIN, course_files

__all__ = ["build_zip", "gradescope_results", "apply_submission_policy", "VISIBILITIES", "SETUP_SH", "RUN_AUTOGRADER"]

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
DEFAULT_BUDGET_S = 420.0           # of Gradescope's 10 minutes: grading at half a CPU, with room to start and write

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu base image).
# Installs Python 3.11 and the course's pinned packages with the CPU build of PyTorch; any failure stops the
# build with a message (set -e), so a broken image is never used for grading.
set -euo pipefail
ROOT="${COURSE_AUTOGRADER_ROOT:-/autograder}"
SRC="$ROOT/source"
VENV="${COURSE_AUTOGRADER_VENV:-/opt/course-venv}"
fail() { echo "setup.sh: ERROR: $*" >&2; exit 1; }
[ -f "$SRC/config.json" ] || fail "$SRC/config.json is missing: unzip the whole autograder into $SRC"
if [ -n "${COURSE_AUTOGRADER_USE_PYTHON:-}" ]; then
    PY="$COURSE_AUTOGRADER_USE_PYTHON"            # tests: check an existing environment, install nothing
else
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends ca-certificates util-linux bubblewrap software-properties-common \
        || fail "apt-get could not install the base packages"
    if ! apt-get install -y --no-install-recommends python3.11 python3.11-venv; then
        add-apt-repository -y ppa:deadsnakes/ppa && apt-get update \
            && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
            || fail "Python 3.11 is not available from apt or the deadsnakes PPA on this image"
    fi
    python3.11 -m venv "$VENV" || fail "could not create $VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --index-url @TORCH_INDEX@ "@TORCH_PIN@" \
        || fail "could not install @TORCH_PIN@ (CPU build)"
    "$VENV/bin/python" -m pip install --quiet -c "$SRC/course/requirements/constraints.txt" \
        -r "$SRC/course/requirements.txt" || fail "could not install the course's pinned requirements"
    PY="$VENV/bin/python"
fi
"$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || fail "$PY is not Python 3.11"
"$PY" -c 'import numpy, scipy, torch, nbformat, IPython' || fail "$PY lacks the course's packages"
LAB="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["lab"])' "$SRC/config.json")"
( cd "$SRC/course" && PYTHONPATH="$SRC/course" "$PY" -c 'import sys; from course_utils.grader.registry import get_lab; get_lab(sys.argv[1])' "$LAB" ) \
    || fail "the course grader does not load lab $LAB"
echo "$PY" > "$SRC/python-path"
chmod -R go-rwx "$SRC"                            # the grader and its hidden tests: root only
echo "setup.sh: autograder for lab $LAB ready ($("$PY" --version), $PY)"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this, as root in /autograder, for every submission. It always leaves a results.json.
ROOT="${COURSE_AUTOGRADER_ROOT:-/autograder}"
SRC="$ROOT/source"
mkdir -p "$ROOT/results"
PY="$(cat "$SRC/python-path" 2>/dev/null || echo /opt/course-venv/bin/python)"
chmod 700 "$SRC" 2>/dev/null
cd "$SRC/course" && PYTHONPATH="$SRC/course" timeout -k 10 560 "$PY" -s -m course_utils.delivery.platform_run \
    gradescope --root "$ROOT" --config "$SRC/config.json" 2>&1
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
    printf '{"score": 0.0, "output": "The autograder stopped before it could write your results (status %s). This is not a problem of your notebook: submit again, and tell your instructor if it happens again.", "tests": []}\n' "$status" > "$ROOT/results/results.json"
fi
exit 0
"""


def build_zip(lab_id: str, out: str | Path, *, root: Path = COURSE_ROOT, budget_s: float = DEFAULT_BUDGET_S,
              memory_mb: int = 768, visibility: str = "visible", max_per_day: int | None = None) -> dict[str, Any]:
    """Write the autograder zip of ``lab_id`` to ``out``; returns its config (and ``bytes``)."""
    lab = get_lab(lab_id)
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility {visibility!r}: choose one of {', '.join(VISIBILITIES)}")
    if max_per_day is not None and max_per_day < 1:
        raise ValueError("--max-per-day must be at least 1")
    config = {"platform": "gradescope", "lab": lab.lab_id, "title": lab.title, "max_points": lab.max_points,
              "budget_s": budget_s, "memory_mb": memory_mb, "visibility": visibility,
              "rate_limit": {"count": max_per_day, "hours": 24} if max_per_day else None}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        def add(name: str, data: bytes, mode: int = 0o644) -> None:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
        add("setup.sh", SETUP_SH.replace("@TORCH_INDEX@", TORCH_CPU_INDEX).replace("@TORCH_PIN@", TORCH_PIN).encode(), 0o755)
        add("run_autograder", RUN_AUTOGRADER.encode(), 0o755)
        add("config.json", json.dumps(config, indent=1).encode())
        for name, data in course_files(root).items():
            add(f"course/{name}", data)
    out.write_bytes(buf.getvalue())
    return dict(config, bytes=len(buf.getvalue()))


# ---------------------------------------------------------------- results.json

def _when(text: Any) -> datetime | None:
    try:
        t = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def gradescope_results(o: Outcome, *, visibility: str = "visible") -> dict[str, Any]:
    """The ``results.json`` of one graded (or refused) submission."""
    head = f"{o.lab_title} (lab {o.lab_id})"
    if o.result is None:
        return {"score": 0.0, "execution_time": round(o.seconds), "output": f"{head}: not graded.\n\n{o.problem}",
                "output_format": "text", "stdout_visibility": "hidden",
                "tests": [{"name": "Submission", "number": "0", "score": 0.0, "max_score": o.max_points,
                           "status": "failed", "output": o.problem, "visibility": "visible"}],
                "extra_data": {"lab": o.lab_id, "problem": o.kind}}
    r = o.result
    tests = []
    for i, q in enumerate(r.questions, 1):
        tests.append({"name": clean_text(f"{q.id}: {q.title}", 200, numbers=False), "number": str(i),
                      "score": q.score, "max_score": q.max, "status": "passed" if q.score >= q.max else "failed",
                      "output": clean_text(f"{q.status.replace('_', ' ')}: {q.message}", 1500, numbers=False),
                      "visibility": visibility})
    lines = [f"{head}: {r.total:g} / {r.max:g} points."]
    lines += [clean_text(n, 500, numbers=False) for n in o.notes + r.notes]
    lines += ["Hidden tests use inputs drawn fresh at each grading.",
              f"Seed {r.seed}, graded in {r.duration:.1f} s; {r.isolation}."]
    return {"score": r.total, "execution_time": round(o.seconds), "output": "\n".join(lines), "output_format": "text",
            "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"lab": r.lab, "seed": r.seed, "sha256": r.sha256, "grader_version": r.grader_version}}


def apply_submission_policy(results: dict[str, Any], metadata: dict[str, Any] | None,
                            rate_limit: dict[str, Any] | None) -> dict[str, Any]:
    """Use ``submission_metadata.json``: say how this score compares with the last one, and with a rate limit
    (``{"count": N, "hours": H}``) keep the previous results when this is more than N submissions in H hours
    (Gradescope's documented scheme: the student keeps the last valid score and is told why)."""
    if not isinstance(metadata, dict):
        return results
    previous = [p for p in metadata.get("previous_submissions") or [] if isinstance(p, dict)]
    now = _when(metadata.get("created_at")) or datetime.now(timezone.utc)
    notes = []
    if previous:
        last = max(previous, key=lambda p: _when(p.get("submission_time")) or datetime.min.replace(tzinfo=timezone.utc))
        try:
            notes.append(f"Your previous submission scored {float(last.get('score')):g}.")
        except (TypeError, ValueError):
            pass
        if rate_limit and rate_limit.get("count"):
            window = timedelta(hours=float(rate_limit.get("hours", 24)))
            recent = [p for p in previous if (t := _when(p.get("submission_time"))) is not None and now - t < window]
            if len(recent) >= int(rate_limit["count"]):
                kept = last.get("results") if isinstance(last.get("results"), dict) else {"score": last.get("score", 0.0)}
                out = dict(kept)
                out["output"] = (f"Rate limit: at most {rate_limit['count']} graded submissions in "
                                 f"{rate_limit.get('hours', 24):g} hours, and you have made {len(recent)}. This "
                                 "submission was not graded; your previous results are kept below.\n\n"
                                 + str(kept.get("output", "")))
                return out
    if notes:
        results = dict(results, output=results.get("output", "") + "\n" + " ".join(notes))
    return results
