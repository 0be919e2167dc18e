"""PrairieLearn: an externally graded question for a lab, its grading image, and the ``results.json`` it writes.

PrairieLearn's contract (prairielearn docs, "External Grading"): the question's ``info.json`` sets
``"gradingMethod": "External"`` and ``externalGradingOptions`` (``enabled``, ``image``, ``entrypoint``,
``timeout`` in seconds); the question's ``tests/`` folder is mounted at ``/grade/tests``, the student's
files at ``/grade/student``; the entrypoint must write ``/grade/results/results.json`` (at most 1 MB):
``score`` in [0, 1], ``tests`` (each ``name``, ``points``, ``max_points``, ``message``, ``output``),
``message``, ``output``; ``"gradable": false`` with ``format_errors`` (a string or a list of strings) marks
the submission invalid without costing the student an attempt.

Export layout (``course export prairielearn LAB --out DIR``)::

    DIR/question/info.json, question.html, tests/run.sh, tests/config.json   -> the course's questions/<name>/
    DIR/image/Dockerfile, image/course/...                                   -> docker build -t IMAGE DIR/image

The image carries the course package (hidden tests included) root-only in ``/opt/course``; ``run.sh``
grades with it. For tests, ``COURSE_GRADE_ROOT`` moves ``/grade``, ``COURSE_HOME`` ``/opt/course`` and
``COURSE_PYTHON`` the interpreter.
"""

from __future__ import annotations

import html
import json
import uuid
from pathlib import Path
from typing import Any

from ..grader.registry import get_lab
from ..grader.safety import clean_text
from ..notebooks import COURSE_ROOT
from .autograde import Outcome
from .platform_files import TORCH_CPU_INDEX, TORCH_PIN, course_files

__all__ = ["export_question", "prairielearn_results", "MAX_RESULTS_BYTES", "RUN_SH", "DOCKERFILE"]

MAX_RESULTS_BYTES = 1_000_000
DEFAULT_TIMEOUT_S = 300
DEFAULT_IMAGE = "course-cnn-rnn-grader:latest"

RUN_SH = r"""#!/usr/bin/env bash
# PrairieLearn's entrypoint: grade the notebook in /grade/student, always leave /grade/results/results.json.
GRADE="${COURSE_GRADE_ROOT:-/grade}"
HOME_DIR="${COURSE_HOME:-/opt/course}"
PY="${COURSE_PYTHON:-python3}"
mkdir -p "$GRADE/results"
cd "$HOME_DIR" && PYTHONPATH="$HOME_DIR" timeout -k 10 @LIMIT@ "$PY" -s -m course_utils.delivery.platform_run \
    prairielearn --root "$GRADE" --config "$GRADE/tests/config.json" 2>&1
status=$?
if [ ! -s "$GRADE/results/results.json" ]; then
    printf '{"gradable": false, "format_errors": ["The grader stopped before it could write results (status %s); this submission is not counted. Submit again."]}\n' "$status" > "$GRADE/results/results.json"
fi
exit 0
"""

DOCKERFILE = """# The grading image of the course's PrairieLearn questions: Python 3.11, the pinned packages with the CPU build of
# PyTorch, bubblewrap for the sandbox, and the course package (hidden tests included) readable by root only.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap util-linux \\
    && rm -rf /var/lib/apt/lists/*
COPY course/requirements.txt /opt/course/requirements.txt
COPY course/requirements/constraints.txt /opt/course/requirements/constraints.txt
RUN pip install --no-cache-dir --index-url @TORCH_INDEX@ "@TORCH_PIN@" \\
    && pip install --no-cache-dir -c /opt/course/requirements/constraints.txt -r /opt/course/requirements.txt
COPY course/course_utils /opt/course/course_utils
RUN chmod -R go-rwx /opt/course \\
    && cd /opt/course && PYTHONPATH=/opt/course python -c "from course_utils.grader.registry import all_labs; all_labs()"
ENV COURSE_HOME=/opt/course COURSE_PYTHON=/usr/local/bin/python
"""

QUESTION_HTML = """<pl-question-panel>
  <p><b>{title}</b> (lab {lab}, {points:g} points).</p>
  <p>Upload your saved lab notebook <code>{file}</code> (in JupyterLab: File &gt; Download). Run every
  <code>check("q1")</code> cell first: the autograder runs hidden tests on fresh inputs, question by question.</p>
  <pl-file-upload file-names="{file}"></pl-file-upload>
</pl-question-panel>

<pl-submission-panel>
  <pl-external-grader-results></pl-external-grader-results>
  <pl-file-preview></pl-file-preview>
</pl-submission-panel>
"""


def export_question(lab_id: str, out: str | Path, *, root: Path = COURSE_ROOT, image: str = DEFAULT_IMAGE,
                    timeout_s: int = DEFAULT_TIMEOUT_S, memory_mb: int | None = None) -> dict[str, Any]:
    """Write the question folder and the grading image's build context of ``lab_id`` under ``out``."""
    lab = get_lab(lab_id)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: is not empty; choose a new folder")
    q, img = out / "question", out / "image"
    (q / "tests").mkdir(parents=True)
    file_name = f"{lab.lab_id}_lab.ipynb"
    budget = max(30.0, timeout_s - 30.0)
    info = {"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"course-cnn-rnn/{lab.lab_id}")), "type": "v3",
            "title": f"Lab: {lab.title}", "topic": "Labs", "tags": ["lab", lab.lab_id], "singleVariant": True,
            "gradingMethod": "External",
            "externalGradingOptions": {"enabled": True, "image": image, "entrypoint": "/grade/tests/run.sh",
                                       "timeout": int(timeout_s)}}
    (q / "info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (q / "question.html").write_text(QUESTION_HTML.format(title=html.escape(lab.title), lab=html.escape(lab.lab_id),
                                                          points=lab.max_points, file=html.escape(file_name)),
                                     encoding="utf-8")
    run = q / "tests" / "run.sh"
    run.write_text(RUN_SH.replace("@LIMIT@", str(int(timeout_s) - 5)), encoding="utf-8")
    run.chmod(0o755)
    config = {"platform": "prairielearn", "lab": lab.lab_id, "title": lab.title, "max_points": lab.max_points,
              "budget_s": budget, "memory_mb": memory_mb}
    (q / "tests" / "config.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    img.mkdir(parents=True)
    (img / "Dockerfile").write_text(DOCKERFILE.replace("@TORCH_INDEX@", TORCH_CPU_INDEX).replace("@TORCH_PIN@", TORCH_PIN),
                                    encoding="utf-8")
    for name, data in course_files(root).items():
        dest = img / "course" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    return dict(config, question=str(q), image_context=str(img), image=image)


def prairielearn_results(o: Outcome) -> dict[str, Any]:
    """The ``results.json`` of one submission (within :data:`MAX_RESULTS_BYTES`)."""
    if o.result is None:
        return {"gradable": False, "score": 0.0, "format_errors": [o.problem], "message": o.problem,
                "output": o.problem}
    r = o.result
    tests = [{"name": clean_text(f"{q.id}: {q.title}", 200, numbers=False), "description": q.status.replace("_", " "),
              "points": q.score, "max_points": q.max, "message": clean_text(q.message, 1500, numbers=False),
              "output": f"{q.passed} of {q.tests} hidden tests passed"} for q in r.questions]
    score = min(1.0, max(0.0, r.total / r.max)) if r.max else 0.0
    lines = [clean_text(n, 500, numbers=False) for n in o.notes + r.notes]
    lines.append(f"Seed {r.seed}, graded in {r.duration:.1f} s; {r.isolation}.")
    out = {"gradable": True, "score": round(score, 6), "message": f"{r.total:g} / {r.max:g} points",
           "output": "\n".join(lines), "tests": tests}
    while len(json.dumps(out).encode()) > MAX_RESULTS_BYTES and out["output"]:
        out["output"] = out["output"][: len(out["output"]) // 2]
    return out
