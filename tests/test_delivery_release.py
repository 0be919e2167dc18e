"""The student edition: no answers in it, and its public checks give the course's verdicts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_utils.delivery import replay, spec_split
from course_utils.delivery.release import ReleaseError, build_release

ROOT = Path(__file__).resolve().parents[1]

SPEC = '''"""A toy lab."""
from __future__ import annotations
import numpy as np
from ..spec import Case, LabSpec, Question, expect_close, compare_close

SECRET_PROBE = "def probe(): pass"

def _answer(x):
    return np.tanh(x) * 2

def _cases(rng):
    return [Case("f", {"x": rng.normal(size=3)}, provide=(("probe", SECRET_PROBE),))]

def _reference(case):
    return _answer(case.kwargs["x"])

def _judge(got, expected, case):
    return compare_close(got, expected)

def _public(ns):
    x = np.linspace(-1, 1, 5)
    expect_close("f", ns["f"](x), _answer(x))

LAB = LabSpec("99_toy", "Toy", (Question("q1", "f", 1, ("f",), _public, _cases, _reference, compare=_judge),))
'''


def test_split_keeps_public_checks_and_withholds_the_rest():
    a = spec_split.analyse(SPEC)
    assert a.candidates == {"_answer"}
    text, kept = spec_split.rewrite(a, "course_utils.grader.labs.lab99", {"_answer"})
    for gone in ("SECRET_PROBE", "_cases", "_reference", "_judge", "np.tanh", "compare_close"):
        assert gone not in text
    assert "_answer = _recorded(__name__, '_answer')" in text
    assert "_withheld" in text and "_public" in text
    compile(text, "lab99", "exec")


def test_replay_table_round_trip_and_tolerant_match(tmp_path):
    from course_utils.grader.spec import Case
    x = np.linspace(0, 1, 4)
    calls = {"f": [((x, 3, "s"), {"k": (1.5, [np.float64(2.0), None])}, (x * 2, {"a": True})),
                   ((Case("f", {"x": x}, seed=3),), {}, 0.25)]}
    replay.save_table(tmp_path / "t.npz", calls)
    back = replay.load_table(tmp_path / "t.npz")
    assert replay.same_value(back["f"][0][2], (x * 2, {"a": True}))
    assert isinstance(back["f"][1][0][0], Case) and back["f"][1][0][0].seed == 3
    # a few ulps apart (another BLAS kernel) still matches; a real difference does not
    assert replay.same_value([x * (1 + 1e-14)], [x])
    assert not replay.same_value([x + 1e-6], [x])
    with pytest.raises(replay.Unrecordable):
        replay.encode_calls({"f": [((object(),), {}, None)]})


def test_release_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "something").write_text("mine")
    with pytest.raises(ReleaseError, match="not empty"):
        build_release(tmp_path)


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("edition") / "course"
    report = build_release(out)
    return out, report


def _edition_python(edition_dir: Path, code: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(edition_dir), COURSE_BLAS_THREADS="1")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=edition_dir, env=env, capture_output=True,
                          text=True, timeout=1200)


@pytest.mark.full
def test_edition_has_no_answers(edition):
    out, report = edition
    assert not (out / "solutions").exists() and not (out / "benchmarks").exists()
    assert not (out / "tests" / "mutants").exists() and not (out / "tests" / "hostile").exists()
    assert report.bytes > 0 and "MiB" in report.summary()
    # what a hub or Binder needs to build the edition (binder/ reads the constraints and installs the package)
    for needed in ("binder/postBuild", "binder/requirements.txt", "requirements/constraints.txt", "pyproject.toml",
                   "course_utils/delivery/exchange.py", "data/cnn", "data/corpora"):
        assert (out / needed).exists(), needed
    begin = re.compile(r"^\s*### BEGIN SOLUTION\s*$", re.M)
    for f in out.rglob("*"):
        if f.is_file() and f.suffix in (".py", ".ipynb", ".md", ".json", ".txt"):
            text = f.read_text(encoding="utf-8", errors="replace")
            assert not begin.search(text) and "### BEGIN SOLUTION\\n" not in text, f
    labs = out / "course_utils" / "grader" / "labs"
    spec_text = "".join(p.read_text() for p in labs.glob("*.py"))
    for secret in ("REFERENCE_SOURCES", "IN_PLACE_PROBE", "NUMGRAD_PROBE", "FGSM_SOURCE", "SOURCES = ",
                   "_q1_cases", "def _clip(", "def _beam(", "def _greedy(", "def _fgsm("):
        assert secret not in spec_text, secret
    readme = (out / "README.md").read_text()
    assert "Student edition" in readme and "## For instructors" not in readme and "`solutions/" not in readme


@pytest.mark.full
def test_edition_checks_give_the_courses_verdicts(edition):
    """Solution, blank lab and every mutant: each public check passes or fails in the edition as in the course."""
    from course_utils.grader.registry import all_labs
    from course_utils.grader.validate import parse_mutant
    from course_utils.notebooks import read_notebook
    out, _ = edition
    expected = {}
    jobs = []
    for lab_id, lab in all_labs().items():
        sol = read_notebook(ROOT / "solutions" / f"{lab_id}_lab.ipynb")
        variants = {"solution": "", **{m.name: parse_mutant(m).source
                                       for m in sorted((ROOT / "tests" / "mutants" / lab_id).glob("*.py"))}}
        for name, extra in variants.items():
            expected[f"{lab_id}/{name}"] = spec_split.run_public_checks(lab, spec_split.namespace_of(sol, extra))
            jobs.append([lab_id, name, str(ROOT / "solutions" / f"{lab_id}_lab.ipynb"), extra])
        expected[f"{lab_id}/blank"] = spec_split.run_public_checks(
            lab, spec_split.namespace_of(read_notebook(ROOT / "labs" / f"{lab_id}_lab.ipynb")))
        jobs.append([lab_id, "blank", str(ROOT / "labs" / f"{lab_id}_lab.ipynb"), ""])
    (out.parent / "jobs.json").write_text(json.dumps(jobs))
    code = ("import json, sys\n"
            "from course_utils.delivery.spec_split import namespace_of, run_public_checks\n"
            "from course_utils.grader.registry import get_lab\n"
            "from course_utils.notebooks import read_notebook\n"
            "res = {}\n"
            "for lab, name, path, extra in json.load(open(sys.argv[1])):\n"
            "    res[lab + '/' + name] = run_public_checks(get_lab(lab), namespace_of(read_notebook(path), extra))\n"
            "print(json.dumps(res))\n")
    p = _edition_python(out, code, str(out.parent / "jobs.json"))
    assert p.returncode == 0, p.stderr[-3000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    differ = {k: (expected[k], got[k]) for k in expected if expected[k] != got[k]}
    assert not differ, differ
    assert all(v == "pass" for k, vs in got.items() if k.endswith("/solution") for v in vs.values())


@pytest.mark.full
def test_a_lab_check_runs_from_the_edition(edition):
    """As a student would: the lab's first cell, a correct answer, then check("q1") in the edition."""
    out, _ = edition
    code = ("import numpy as np\n"
            "from course_utils.grader import for_lab\n"
            "check, submit = for_lab('08_monitoring')\n"
            "def clip_by_global_norm(grads, max_norm):\n"
            "    norm = float(np.sqrt(sum(np.sum(np.asarray(g, float) ** 2) for g in grads)))\n"
            "    return [np.asarray(g, float) * min(1.0, max_norm / (norm + 1e-6)) for g in grads], norm\n"
            "check('q1')\n")
    p = _edition_python(out, code)
    assert p.returncode == 0, p.stderr
    assert "q1: public checks passed" in p.stdout
    p = _edition_python(out, "import subprocess, sys; sys.exit(subprocess.call([sys.executable, '-m', 'pytest', '-q', "
                             "'-p', 'no:cacheprovider', '-p', 'no:randomly', 'tests']))")
    assert p.returncode == 0, p.stdout[-3000:]
