"""What runs inside a platform's grading container: grade the submission, write ``results.json``, never crash.

    python -m course_utils.delivery.platform_run gradescope   --root /autograder --config /autograder/source/config.json
    python -m course_utils.delivery.platform_run prairielearn --root /grade      --config /grade/tests/config.json

Layouts (``--root`` replaces the real root in tests): Gradescope reads ``ROOT/submission/`` and
``ROOT/submission_metadata.json`` and writes ``ROOT/results/results.json``; PrairieLearn reads
``ROOT/student/`` and writes ``ROOT/results/results.json``. Whatever fails -- the configuration, the
grader, a bug here -- a valid ``results.json`` that says so is written. Standard output (the
instructor's log on both platforms) gets a one-line summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

__all__ = ["main", "run"]


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _fallback(platform: str, message: str) -> dict[str, Any]:
    if platform == "prairielearn":
        return {"gradable": False, "format_errors": [message], "message": message}
    return {"score": 0.0, "output": message, "tests": [], "stdout_visibility": "hidden"}


def run(platform: str, root: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Grade and return the platform's results object."""
    from ..runtime import limit_threads
    from .autograde import grade_folder, limits_for_memory
    limit_threads()
    limits = limits_for_memory(config.get("memory_mb"))
    submission = root / ("submission" if platform == "gradescope" else "student")
    outcome = grade_folder(submission, config["lab"], budget_s=config.get("budget_s"), limits=limits)
    if platform == "gradescope":
        from .gradescope import apply_submission_policy, gradescope_results
        results = gradescope_results(outcome, visibility=config.get("visibility", "visible"))
        metadata = None
        try:
            metadata = json.loads((root / "submission_metadata.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        results = apply_submission_policy(results, metadata, config.get("rate_limit"))
    else:
        from .prairielearn import prairielearn_results
        results = prairielearn_results(outcome)
    total = outcome.result.total if outcome.result else 0.0
    print(f"course autograder: lab {outcome.lab_id}: {outcome.kind}, {total:g}/{outcome.max_points:g} points, "
          f"{outcome.seconds:.1f} s{'; ' + outcome.problem if outcome.problem else ''}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.delivery.platform_run")
    parser.add_argument("platform", choices=["gradescope", "prairielearn"])
    parser.add_argument("--root", type=Path, required=True, help="/autograder or /grade (another folder in tests)")
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    out = args.root / "results" / "results.json"
    try:
        config = json.loads(args.config.read_text(encoding="utf-8"))
        results = run(args.platform, args.root, config)
    except BaseException as exc:  # noqa: BLE001 -- a results.json whatever happens (KeyboardInterrupt on a timeout too)
        traceback.print_exc()
        results = _fallback(args.platform, "The autograder itself failed while grading this submission "
                                           f"({type(exc).__name__}); this is not a problem of your notebook. Submit "
                                           "again, and tell your instructor if it happens again.")
    _write(out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
