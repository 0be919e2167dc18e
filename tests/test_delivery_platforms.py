"""Gradescope and PrairieLearn autograders in the platforms' layouts, with their results.json validated.

Layouts are simulated under a temporary root (Gradescope's ``/autograder`` with ``COURSE_AUTOGRADER_ROOT``,
PrairieLearn's ``/grade`` with ``COURSE_GRADE_ROOT``); ``setup.sh`` checks an existing environment with
``COURSE_AUTOGRADER_USE_PYTHON`` (the real install, apt + pip, is the ``full`` test at the end). Runs happen
under 768 MB and half a CPU in a cgroup where the machine allows it (``course_utils.delivery.limits``).
The JSON Schemas below are written from the platforms' documentation (Gradescope "Autograder
Specifications", PrairieLearn "External Grading: Grading results").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import nbformat
import pytest

from course_utils.delivery.limits import cgroup_mode, run_measured

ROOT = Path(__file__).resolve().parents[1]
LAB = "03_rnn_basics"
MB = 2**20

_VIS = ["hidden", "after_due_date", "after_published", "visible"]
_FORMATS = ["text", "html", "simple_format", "md", "ansi"]
GRADESCOPE_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "output_format": {"enum": _FORMATS},
        "test_output_format": {"enum": _FORMATS},
        "test_name_format": {"enum": _FORMATS},
        "visibility": {"enum": _VIS},
        "stdout_visibility": {"enum": _VIS},
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": {
            "type": "object",
            "properties": {
                "score": {"type": "number"}, "max_score": {"type": "number"},
                "status": {"enum": ["passed", "failed"]},
                "name": {"type": "string"}, "name_format": {"enum": _FORMATS},
                "number": {"type": "string"}, "output": {"type": "string"}, "output_format": {"enum": _FORMATS},
                "tags": {"type": "array", "items": {"type": "string"}},
                "visibility": {"enum": _VIS}, "extra_data": {"type": "object"},
            },
            "additionalProperties": False}},
        "leaderboard": {"type": "array"},
    },
    "anyOf": [{"required": ["score"]}, {"required": ["tests"]}],
    "additionalProperties": False,
}
# what our autograder promises on top of the platform's schema: every test says all of this
OUR_GRADESCOPE_TEST = {"type": "object", "required": ["name", "number", "score", "max_score", "status", "output",
                                                      "visibility"]}

PRAIRIELEARN_SCHEMA = {
    "type": "object",
    "properties": {
        "gradable": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "message": {"type": "string"},
        "output": {"type": "string"},
        "format_errors": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "images": {"type": "array"},
        "tests": {"type": "array", "items": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "description": {"type": "string"},
                           "points": {"type": "number"}, "max_points": {"type": "number"},
                           "message": {"type": "string"}, "output": {"type": "string"}, "images": {"type": "array"}},
            "required": ["name", "points", "max_points"]}},
    },
    "if": {"properties": {"gradable": {"const": False}}, "required": ["gradable"]},
    "then": {"required": ["format_errors"]},
    "else": {"required": ["score"]},
}


def _notebook(kind: str, lab: str = LAB) -> bytes:
    src = ROOT / ("solutions" if kind in ("solution", "mistake", "hostile") else "labs") / f"{lab}_lab.ipynb"
    nb = nbformat.read(src, as_version=4)
    if kind == "mistake":      # an independent mistake: the step forgets its bias (as a student would write it)
        nb.cells.append(nbformat.v4.new_code_cell(
            "def rnn_step_forward(x, prev_h, Wx, Wh, b):\n    return np.tanh(np.dot(x, Wx) + np.dot(prev_h, Wh))\n"))
    if kind == "hostile":
        nb.cells.append(nbformat.v4.new_code_cell(
            "import os\n"
            "def rnn_step_forward(x, prev_h, Wx, Wh, b):\n"
            "    hog = [bytearray(64 * 2**20) for _ in range(64)]   # 4 GB\n"
            "    return len(hog)\n"
            "def rnn_step_backward(dnext_h, x, prev_h, Wx, Wh, next_h):\n"
            "    while True:\n        pass\n"
            "def hello_loss(text, W_xh, W_hh, W_hy, b_h, b_y):\n"
            "    return open('/autograder/source/config.json').read() + str(os.listdir('/'))\n"))
    return nbformat.writes(nb).encode()


def _run(cmd: list[str], env: dict[str, str], timeout: float = 900) -> tuple[int, float, int]:
    """(exit status, seconds, peak bytes or -1) -- under 768 MB and half a CPU when cgroups allow it."""
    if cgroup_mode():
        m = run_measured(cmd, memory_bytes=768 * MB, cpu_fraction=0.5, timeout_s=timeout, env=env)
        assert m.oom_kills == 0 or True      # the kernel may kill a sandbox process: the results must still be valid
        return m.returncode, m.seconds, m.peak_bytes
    p = subprocess.run(cmd, env=env, timeout=timeout, capture_output=True)
    return p.returncode, 0.0, -1


# ---------------------------------------------------------------- Gradescope

@pytest.fixture(scope="module")
def gradescope(tmp_path_factory):
    """A built zip, unzipped as /autograder/source, with setup.sh run (checking this environment)."""
    from course_utils.delivery.gradescope import build_zip
    base = tmp_path_factory.mktemp("gs")
    build_zip(LAB, base / "autograder.zip")
    with zipfile.ZipFile(base / "autograder.zip") as z:
        names = z.namelist()
        assert "setup.sh" in names and "run_autograder" in names          # at the zip's root
        assert not any(n.startswith(("solutions/", "tests/")) or "mutants" in n for n in names)
        source = base / "template" / "source"
        z.extractall(source)
        for n in ("setup.sh", "run_autograder"):
            assert (z.getinfo(n).external_attr >> 16) & 0o111, f"{n} is not executable in the zip"
            os.chmod(source / n, 0o755)
    env = dict(os.environ, COURSE_AUTOGRADER_ROOT=str(base / "template"), COURSE_AUTOGRADER_USE_PYTHON=sys.executable)
    p = subprocess.run(["bash", str(source / "setup.sh")], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "ready" in p.stdout
    return base


def _gradescope_case(base: Path, name: str, files: dict[str, bytes], metadata: dict | None = None):
    import shutil
    root = base / name
    shutil.copytree(base / "template", root)
    (root / "submission").mkdir()
    for fname, data in files.items():
        (root / "submission" / fname).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / fname).write_bytes(data)
    if metadata is not None:
        (root / "submission_metadata.json").write_text(json.dumps(metadata))
    env = {"PATH": os.environ["PATH"], "COURSE_AUTOGRADER_ROOT": str(root), "HOME": str(root)}
    code, seconds, peak = _run(["bash", str(root / "source" / "run_autograder")], env)
    assert code == 0
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, GRADESCOPE_SCHEMA)
    for t in results.get("tests", []):
        jsonschema.validate(t, OUR_GRADESCOPE_TEST)
    return results, seconds, peak


@pytest.mark.full
def test_gradescope_solution_full_marks(gradescope):
    r, seconds, peak = _gradescope_case(gradescope, "solution", {"my_lab.ipynb": _notebook("solution")})
    assert r["score"] == 10 and all(t["status"] == "passed" for t in r["tests"])
    assert [t["number"] for t in r["tests"]] == ["1", "2", "3", "4", "5"]
    if peak > 0:
        print(f"\nsolution under 768 MB / 0.5 CPU: {seconds:.1f} s, peak {peak / MB:.0f} MB")
        assert peak < 768 * MB


@pytest.mark.full
def test_gradescope_empty_submission_is_explained(gradescope):
    r, _, _ = _gradescope_case(gradescope, "empty", {"notes.txt": b"hello"})
    assert r["score"] == 0
    assert "No Jupyter notebook" in r["output"] and "notes.txt" in r["output"] and "03_rnn_basics_lab.ipynb" in r["output"]


@pytest.mark.full
def test_gradescope_garbage_and_several_and_wrong_lab(gradescope):
    r, _, _ = _gradescope_case(gradescope, "garbage", {"03_rnn_basics_lab.ipynb": b"\x00\x01PK garbage"})
    assert r["score"] == 0 and "binary file" in r["output"]
    r, _, _ = _gradescope_case(gradescope, "several", {"a.ipynb": _notebook("blank"), "b.ipynb": _notebook("blank")})
    assert r["score"] == 0 and "2 notebooks" in r["output"]
    r, _, _ = _gradescope_case(gradescope, "wrong", {"x.ipynb": _notebook("blank", "08_monitoring")})
    assert r["score"] == 0 and "not lab 03_rnn_basics" in r["output"]


def test_gradescope_rate_limit_keeps_previous_results(gradescope):
    previous = {"score": 7.0, "output": "earlier", "tests": []}
    meta = {"created_at": "2024-05-02T10:00:00+00:00",
            "previous_submissions": [{"submission_time": f"2024-05-02T0{h}:00:00+00:00", "score": 7.0,
                                      "results": previous} for h in (1, 2, 3)]}
    from course_utils.delivery.gradescope import apply_submission_policy
    out = apply_submission_policy({"score": 10.0, "output": "new", "tests": []}, meta, {"count": 3, "hours": 24})
    assert out["score"] == 7.0 and out["output"].startswith("Rate limit")
    jsonschema.validate(out, GRADESCOPE_SCHEMA)
    out = apply_submission_policy({"score": 10.0, "output": "new", "tests": []}, meta, None)
    assert out["score"] == 10.0 and "previous submission scored 7" in out["output"]


@pytest.mark.full
def test_gradescope_blank_mistake_hostile_under_limits(gradescope):
    r, _, _ = _gradescope_case(gradescope, "blank", {"lab.ipynb": _notebook("blank")})
    assert r["score"] == 0
    r, _, _ = _gradescope_case(gradescope, "mistake", {"lab.ipynb": _notebook("mistake")})
    scores = {t["number"]: t["score"] for t in r["tests"]}
    assert scores["1"] < 2 and 8 <= r["score"] < 10        # only q1 is charged (q3, q4 use the reference step);
    # a saturated-tanh case can pass without the bias, so q1 may keep a share, depending on the seed
    r, seconds, peak = _gradescope_case(gradescope, "hostile", {"lab.ipynb": _notebook("hostile")})
    by = {t["number"]: t for t in r["tests"]}
    assert by["1"]["score"] == 0 and by["2"]["score"] == 0 and by["5"]["score"] == 0
    assert by["3"]["score"] == 2 and by["4"]["score"] == 2  # the rest of the notebook is still graded
    assert r["execution_time"] < 420
    if peak > 0:
        assert peak <= 768 * MB


@pytest.mark.full
@pytest.mark.skipif(os.environ.get("COURSE_TEST_REAL_SETUP") != "1",
                    reason="installs system packages with apt and downloads PyTorch: run it in a throwaway Ubuntu "
                           "container with COURSE_TEST_REAL_SETUP=1")
def test_gradescope_setup_installs_a_fresh_environment(tmp_path):
    """The real setup.sh: apt (Python 3.11) and pip (pinned packages, CPU torch) into a new virtualenv."""
    from course_utils.delivery.gradescope import build_zip
    build_zip(LAB, tmp_path / "a.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as z:
        z.extractall(tmp_path / "ag" / "source")
    env = dict(os.environ, COURSE_AUTOGRADER_ROOT=str(tmp_path / "ag"), COURSE_AUTOGRADER_VENV=str(tmp_path / "venv"))
    p = subprocess.run(["bash", str(tmp_path / "ag" / "source" / "setup.sh")], env=env, capture_output=True,
                       text=True, timeout=3600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert (tmp_path / "venv" / "bin" / "python").exists()


# ---------------------------------------------------------------- PrairieLearn

@pytest.fixture(scope="module")
def prairielearn(tmp_path_factory):
    from course_utils.delivery.prairielearn import export_question
    base = tmp_path_factory.mktemp("pl")
    info = export_question(LAB, base / "export")
    q = base / "export" / "question"
    meta = json.loads((q / "info.json").read_text())
    assert meta["gradingMethod"] == "External"
    opts = meta["externalGradingOptions"]
    assert opts["enabled"] and opts["image"] and opts["entrypoint"] == "/grade/tests/run.sh" and opts["timeout"] > 0
    assert "pl-file-upload" in (q / "question.html").read_text()
    assert (base / "export" / "image" / "Dockerfile").read_text().startswith("#")
    assert (base / "export" / "image" / "course" / "course_utils" / "grader" / "grade.py").is_file()
    return base, info


def _pl_case(pl, name: str, files: dict[str, bytes]):
    base, _ = pl
    root = base / name
    (root / "student").mkdir(parents=True)
    import shutil
    shutil.copytree(base / "export" / "question" / "tests", root / "tests")
    for fname, data in files.items():
        (root / "student" / fname).write_bytes(data)
    env = {"PATH": os.environ["PATH"], "COURSE_GRADE_ROOT": str(root), "COURSE_HOME": str(ROOT),
           "COURSE_PYTHON": sys.executable, "HOME": str(root)}
    code, seconds, peak = _run(["bash", str(root / "tests" / "run.sh")], env)
    assert code == 0
    raw = (root / "results" / "results.json").read_bytes()
    assert len(raw) < 1_000_000
    results = json.loads(raw)
    jsonschema.validate(results, PRAIRIELEARN_SCHEMA)
    return results


@pytest.mark.full
def test_prairielearn_solution_and_garbage(prairielearn):
    r = _pl_case(prairielearn, "solution", {"03_rnn_basics_lab.ipynb": _notebook("solution")})
    assert r["gradable"] is True and r["score"] == 1.0
    assert sum(t["points"] for t in r["tests"]) == 10
    r = _pl_case(prairielearn, "garbage", {"03_rnn_basics_lab.ipynb": b"{not json"})
    assert r["gradable"] is False and "not valid notebook JSON" in r["format_errors"][0]
    r = _pl_case(prairielearn, "nothing", {})
    assert r["gradable"] is False and "No Jupyter notebook" in r["format_errors"][0]


@pytest.mark.full
def test_prairielearn_blank_mistake_hostile(prairielearn):
    r = _pl_case(prairielearn, "blank", {"03_rnn_basics_lab.ipynb": _notebook("blank")})
    assert r["gradable"] is True and r["score"] == 0
    r = _pl_case(prairielearn, "mistake", {"03_rnn_basics_lab.ipynb": _notebook("mistake")})
    assert 0.8 <= r["score"] < 1.0 and r["tests"][0]["points"] < r["tests"][0]["max_points"]
    r = _pl_case(prairielearn, "hostile", {"03_rnn_basics_lab.ipynb": _notebook("hostile")})
    assert r["gradable"] is True and r["score"] == pytest.approx(0.4)


def test_fallback_results_when_the_runner_itself_fails(tmp_path):
    """A broken configuration still leaves a valid results.json on both platforms."""
    for platform, schema in (("gradescope", GRADESCOPE_SCHEMA), ("prairielearn", PRAIRIELEARN_SCHEMA)):
        root = tmp_path / platform
        root.mkdir()
        p = subprocess.run([sys.executable, "-m", "course_utils.delivery.platform_run", platform, "--root", str(root),
                            "--config", str(root / "missing.json")], capture_output=True, text=True, cwd=ROOT)
        assert p.returncode == 0
        results = json.loads((root / "results" / "results.json").read_text())
        jsonschema.validate(results, schema)
