"""A tiny lab for the grader's tests (registered through ``COURSE_GRADER_LABS=grader_toylab``).

Three questions with short time limits, so hostile submissions that hang cost seconds, not minutes.
:func:`write_lab` writes a notebook of this lab from code cells: :data:`SOLUTION` scores full
marks, :data:`BLANK` (the ``course assign`` form of the stubs) scores 0.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from course_utils.grader.spec import Case, LabSpec, Question, expect_close

LAB_ID = "90_toy"
TIMEOUT_S = 2.5
HERE = Path(__file__).resolve().parent


def _ref_add_one(x: np.ndarray) -> np.ndarray:
    return x + 1.0


def _public_add_one(ns: Mapping[str, Any]) -> None:
    expect_close("add_one", ns["add_one"](np.arange(3.0)), np.arange(3.0) + 1)


def _cases_add_one(rng: np.random.Generator) -> list[Case]:
    return [Case("add_one", {"x": rng.normal(size=(n, 3))}, label=f"{n} rows") for n in (1, 2, 5)]


def _cases_norm(rng: np.random.Generator) -> list[Case]:
    return [Case("norm", {"x": rng.normal(size=n)}, label=f"length {n}") for n in (1, 4)]


def _cases_step(rng: np.random.Generator) -> list[Case]:
    return [Case("sgd_step", {"w": rng.normal(size=4), "g": rng.normal(size=4), "lr": 0.1},
                 returns_kwargs=("w",), label="in-place update")]


def _ref_step(case: Case) -> tuple[None, dict[str, np.ndarray]]:
    k = case.kwargs
    return None, {"w": k["w"] - k["lr"] * k["g"]}


def _judge_step(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
    from course_utils.grader.spec import compare_close
    if not isinstance(got, tuple) or got[0] is not None:
        return False, "sgd_step should update w in place and return None"
    return compare_close(got[1], expected[1], 1e-9, "w after the step")


LAB = LabSpec(
    lab_id=LAB_ID,
    title="Toy lab",
    questions=(
        Question("q1", "add_one", 2, ("add_one",), _public_add_one, _cases_add_one,
                 lambda c: _ref_add_one(c.kwargs["x"]), timeout_s=TIMEOUT_S),
        Question("q2", "norm", 1, ("norm",), lambda ns: None, _cases_norm,
                 lambda c: float(np.sqrt(np.sum(c.kwargs["x"] ** 2))), timeout_s=TIMEOUT_S),
        Question("q3", "sgd_step", 1, ("sgd_step",), lambda ns: None, _cases_step, _ref_step,
                 compare=_judge_step, timeout_s=TIMEOUT_S),
    ),
)

IMPORTS = "import numpy as np\nimport math\n\nfrom course_utils.grader import for_lab\n\ncheck, submit = for_lab('90_toy')"
SOLUTION = [
    IMPORTS,
    "def add_one(x):\n    return x + 1.0\n\ncheck('q1')",
    "def norm(x):\n    return float(math.sqrt(float(np.sum(x ** 2))))",
    "def sgd_step(w, g, lr):\n    w -= lr * g",
    "for i in range(3):\n    print(norm(np.ones(3)))",
]
BLANK = [
    IMPORTS,
    "def add_one(x):\n    # YOUR CODE HERE\n    raise NotImplementedError\n\ncheck('q1')",
    "def norm(x):\n    # YOUR CODE HERE\n    raise NotImplementedError",
    "def sgd_step(w, g, lr):\n    # YOUR CODE HERE\n    raise NotImplementedError",
]


def write_lab(path: str | os.PathLike[str], cells: list[str], lab: str | None = LAB_ID) -> Path:
    """Write a notebook of code cells (with ``course.lab`` metadata unless ``lab`` is None)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    if lab:
        nb.metadata["course"] = {"lab": lab}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def use_toylab(monkeypatch: Any) -> None:
    """Register this lab for in-process tests and for ``course`` subprocesses."""
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("COURSE_GRADER_LABS", "grader_toylab")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))


def course_cmd() -> list[str]:
    """The ``course`` command of this virtualenv."""
    return [str(Path(sys.executable).with_name("course"))]
