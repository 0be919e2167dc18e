"""Labs are generated from solutions: stubs replace solutions, labs stay in sync, blank labs fail at their first stub."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils.assign import AssignError, assign_all, make_lab, strip_solutions
from course_utils.notebooks import read_notebook

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted((ROOT / "labs").glob("*_lab.ipynb"))


def test_strip_keeps_indentation_and_code_around():
    src = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    y = x * 2\n    ### END SOLUTION\n    return y"
    out, changed = strip_solutions(src)
    assert changed
    assert out == "def f(x):\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError\n    return y"


@pytest.mark.parametrize("src, message", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without a matching"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
])
def test_malformed_markers_are_errors(src, message):
    with pytest.raises(AssignError, match=message):
        strip_solutions(src)


def _solution() -> nbformat.NotebookNode:
    nb = new_notebook(cells=[
        new_markdown_cell("# Lab"),
        new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION", outputs=[]),
        new_code_cell("print('answer:', f())"),
        new_code_cell("secret = 1", metadata={"tags": ["solution-only"]}),
        new_code_cell("print('hello')", metadata={"tags": ["keep-output"]}),
    ])
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="answer: 42\n")]
    nb.cells[4].outputs = [nbformat.v4.new_output("stream", text="hello\n")]
    return nb


def test_make_lab_drops_solution_only_and_stale_outputs():
    lab = make_lab(_solution(), "00_demo_lab.ipynb")
    sources = [c.source for c in lab.cells]
    assert "secret = 1" not in sources and len(lab.cells) == 4
    assert "raise NotImplementedError" in lab.cells[1].source and "42" not in lab.cells[1].source
    assert lab.cells[2].outputs == []            # would reveal the answer
    assert lab.cells[4 - 1].outputs[1]["text"] == "hello\n"  # keep-output, untouched cell
    assert lab.cells[4 - 1].outputs[0]["data"]["text/plain"].startswith("Expected output")   # labelled as such
    assert lab.metadata["course"]["generated_from"] == "solutions/00_demo_lab.ipynb"


def test_make_lab_is_deterministic_and_keeps_cell_ids():
    sol = _solution()
    lab1, lab2 = make_lab(sol, "x_lab.ipynb"), make_lab(sol, "x_lab.ipynb")
    assert nbformat.writes(lab1) == nbformat.writes(lab2)
    kept = [c.id for c in sol.cells if "solution-only" not in c.metadata.get("tags", [])]
    assert [c.id for c in lab1.cells] == kept


def test_check_reports_stale_and_missing_labs(tmp_path):
    sol_dir, lab_dir = tmp_path / "solutions", tmp_path / "labs"
    sol_dir.mkdir()
    nbformat.write(_solution(), sol_dir / "01_demo_lab.ipynb")
    assert [p.name for p in assign_all(sol_dir, lab_dir, check=True)] == ["01_demo_lab.ipynb"]
    assert not (lab_dir / "01_demo_lab.ipynb").exists()          # --check writes nothing
    assign_all(sol_dir, lab_dir)
    assert assign_all(sol_dir, lab_dir, check=True) == []
    (lab_dir / "01_demo_lab.ipynb").write_text((lab_dir / "01_demo_lab.ipynb").read_text().replace("Lab", "Edited"))
    cli = subprocess.run([sys.executable, "-m", "course_utils.cli", "assign", "--check",
                          "--solutions", str(sol_dir), "--labs", str(lab_dir)], capture_output=True, text=True)
    assert cli.returncode == 1 and "01_demo_lab.ipynb" in cli.stderr


def test_solution_without_markers_is_rejected():
    with pytest.raises(AssignError, match="no '### BEGIN SOLUTION'"):
        make_lab(new_notebook(cells=[new_code_cell("x = 1")]), "x_lab.ipynb")


def test_committed_labs_are_in_sync():
    assert LABS, "no generated labs found in labs/"
    assert assign_all(check=True) == [], "labs/ is stale: run `course assign`"


@pytest.mark.parametrize("lab", LABS, ids=[p.stem for p in LABS])
def test_blank_lab_first_error_is_its_first_stub(lab):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = read_notebook(lab)
    first_stub = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "raise NotImplementedError" in c.source)
    stub_name = re.search(r"def (\w+)\(", nb.cells[first_stub].source)
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(lab.parent)}})
    with pytest.raises(CellExecutionError) as err:
        client.execute()
    assert err.value.ename == "NotImplementedError"
    failed = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                  and any(o.get("output_type") == "error" for o in c.get("outputs", [])))
    assert failed >= first_stub
    # every code cell before the failing one ran cleanly, and the traceback goes through the first stub
    if stub_name and failed != first_stub:
        tb = "\n".join(next(o for o in nb.cells[failed].outputs if o.get("output_type") == "error")["traceback"])
        assert stub_name.group(1) in tb
