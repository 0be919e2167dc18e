"""The GPU check (`make gpu-check`), tested without a GPU: the whole comparison runs CPU against CPU.

`--device cpu` runs every path of the reduced set (`--quick`) twice on the CPU and compares the two runs; every
path must report within tolerance (in `make test` with one thread on both sides, so an unseeded path fails; in
`make test-full` one thread against two, which changes the order of sums). Each comparison must also *fail* when
the second side's result is changed, output by output (so no output of a path goes uncompared), and the check must
say in one line, exit 0, where there is no CUDA.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from course_utils import adversarial, attribution
from course_utils.gpu_check import GROUPS, Fixtures, build_paths, run_checks, tolerance_table
from course_utils.gpu_check import run as gc_run
from course_utils.gpu_check.compare import TOLERANCES, curve_deviation, measure, rel_l2, rows_differing
from course_utils.gpu_check.paths import Path as CheckPath, attacks, attribution_methods

ROOT = Path(__file__).resolve().parents[1]


def _quick(threads: int, emulate: float | None = None):
    """The reduced set, CPU (1 thread) against CPU (``threads`` threads), with both sides' raw results."""
    before = torch.get_num_threads()
    try:
        return run_checks("cpu", quick=True, threads=threads, keep_results=True, emulate_rounding=emulate)
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def quick_reports():
    # One thread on both sides: a quick set that stays quick when another test keeps the second core busy.
    return _quick(1)


def _out_of_tolerance(reports) -> list:
    return [(r.group, r.name, r.error, [m.as_dict() for m in r.measures if not m.ok]) for r in reports if not r.ok]


@pytest.mark.full
def test_within_tolerance_against_two_threads_and_emulated_rounding():
    """One thread against two, every layer's output on the second side perturbed by 1e-6 relative (a model of a
    GPU's rounding): the tolerances must hold with a margin for what another device does."""
    assert not _out_of_tolerance(_quick(2, emulate=1e-6))


def test_emulated_rounding_perturbs_every_kind_of_layer():
    torch.manual_seed(0)
    layers = [torch.nn.Linear(8, 8), torch.nn.Conv2d(1, 2, 3), torch.nn.LSTM(8, 8, batch_first=True),
              torch.nn.BatchNorm1d(8).eval()]
    inputs = [torch.randn(4, 8), torch.randn(1, 1, 5, 5), torch.randn(2, 3, 8), torch.randn(4, 8)]
    for layer, x in zip(layers, inputs):
        clean = layer(x)
        with gc_run.emulated_rounding(1e-3):
            noisy = layer(x)
        clean, noisy = (c[0] if isinstance(c, tuple) else c for c in (clean, noisy))
        assert 1e-5 < rel_l2(clean.detach(), noisy.detach()) < 1e-2, type(layer).__name__
        assert torch.equal(layer(x)[0] if isinstance(layer, torch.nn.LSTM) else layer(x), clean)


def test_every_path_within_tolerance_cpu_against_cpu(quick_reports):
    assert not _out_of_tolerance(quick_reports)
    assert {r.group for r in quick_reports} == set(GROUPS)
    names = {r.name for r in quick_reports}
    for cls in attribution_methods():              # every method the module exports is checked
        assert any(n.startswith(cls.__name__) for n in names), cls.__name__
    for name, _ in attacks():
        assert any(n.startswith(f"{name},") for n in names), name
    assert {"fgsm", "pgd"} <= {name for name, _ in attacks()}
    for r in quick_reports:
        if r.skip is None:
            assert r.measures and r.ref_seconds > 0 and r.other_seconds > 0, r.name
            assert all(m.rule in TOLERANCES for m in r.measures)


def _perturbed(value):
    """The value as a faulty device might return it: floats 50 % off, counts +3, word ids shifted (the widest
    tolerance is 0.3 relative)."""
    if isinstance(value, dict):
        return {k: _perturbed(v) for k, v in value.items()}
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return value + 3
    if isinstance(value, float):
        return value * 1.5 + 0.5
    arr = np.asarray(value)
    if arr.dtype.kind in "iu":
        return arr + 1
    return arr * 1.5 + 0.5 * (float(np.abs(arr).max()) or 1.0)


def test_every_output_of_every_path_is_compared(quick_reports):
    """Change one output of one side at a time: some measure of that path must fail each time."""
    paths = {(p.group, p.name): p for p in build_paths(Fixtures(quick=True))}
    checked = 0
    for r in quick_reports:
        if r.skip is not None:
            continue
        path = paths[(r.group, r.name)]
        ref, other = r.results
        assert all(m.ok for m in path.compare(ref, other))
        for key in ref:
            broken = {**other, key: _perturbed(other[key])}
            assert not all(m.ok for m in path.compare(ref, broken)), f"{r.group}: {r.name}: {key} is not compared"
            checked += 1
    assert checked >= 50


def test_measures():
    a = np.linspace(1, 2, 100)
    assert rel_l2(a, a + 1e-9) < 1e-8 and rel_l2(a, a * 1.01) == pytest.approx(0.01)
    assert rel_l2(a, a[:50]) == float("inf") and rel_l2(a, np.full(100, np.nan)) == float("inf")
    assert curve_deviation([1.0, 2.0], [1.0, 2.03]) == pytest.approx(0.02)
    assert curve_deviation([1.0, 2.0], [1.0]) == float("inf")
    assert rows_differing(np.array([[1, 2], [3, 4]]), np.array([[1, 2], [3, 5]])) == 1
    assert measure("x", "argmax", 10, 12).ok and not measure("x", "argmax", 10, 13).ok
    assert not measure("x", "metric", 0.5, float("nan")).ok
    with pytest.raises(ValueError, match="unknown rule"):
        measure("x", "nope", 1, 1)


def test_new_methods_and_attacks_are_discovered(monkeypatch):
    class Doubled(attribution.Saliency):
        pass

    class NeedsLayer(attribution.Attribution):
        def __init__(self, model, layer):
            super().__init__(model)

    def shift(model, x, y, eps, *, clip=(0.0, 1.0)):
        return (x + eps).clamp(*clip)

    monkeypatch.setattr(attribution, "Doubled", Doubled, raising=False)
    monkeypatch.setattr(attribution, "NeedsLayer", NeedsLayer, raising=False)
    monkeypatch.setattr(attribution, "__all__", [*attribution.__all__, "Doubled", "NeedsLayer"])
    monkeypatch.setattr(adversarial, "shift", shift, raising=False)
    monkeypatch.setattr(adversarial, "__all__", [*adversarial.__all__, "shift"])
    paths = {p.name: p for p in build_paths(Fixtures(quick=True), ("attribution", "adversarial"))}
    assert paths["Doubled of the digits CNN"].run is not None
    assert "needs ['layer']" in paths["NeedsLayer"].skip
    assert "shift, eps 0.1" in paths


def test_a_failing_path_is_reported_and_fails_the_run(monkeypatch, capsys, tmp_path):
    def boom(device):
        if torch.get_num_threads() != 1:
            raise RuntimeError("kernel missing on this device")
        return {"x": np.ones(3)}

    fake = [CheckPath("cnn", "a path that fails on the second side", boom,
                      lambda a, b: [measure("x", "pass", a["x"], b["x"])]),
            CheckPath("cnn", "a path that agrees", lambda d: {"x": np.ones(3)},
                      lambda a, b: [measure("x", "pass", a["x"], b["x"])])]
    monkeypatch.setattr(gc_run, "build_paths", lambda fixtures, groups: fake)
    out_json = tmp_path / "report.json"
    assert gc_run.main(["--device", "cpu", "--threads", "2", "--json", str(out_json)]) == 1
    out = capsys.readouterr().out
    assert "ERROR RuntimeError: kernel missing on this device" in out
    assert "OUT OF TOLERANCE: 1 path(s): cnn: a path that fails on the second side" in out
    report = json.loads(out_json.read_text())
    assert [p["ok"] for p in report["paths"]] == [False, True]


def test_main_prints_table_and_tolerances(capsys, tmp_path):
    out_json = tmp_path / "synthesis.json"
    assert gc_run.main(["--device", "cpu", "--quick", "--threads", "1", "--only", "synthesis",
                        "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "against the CPU with 1 torch thread(s)" in out and "CPU 1t s" in out and "ratio" in out
    for t in TOLERANCES.values():                  # the tolerances are stated in the output
        assert t.what in out
    assert out.rstrip().endswith("all within tolerance")
    assert all(p["ok"] for p in json.loads(out_json.read_text())["paths"])


def _env_without_cuda() -> dict[str, str]:
    return {**os.environ, "CUDA_VISIBLE_DEVICES": ""}


def test_no_cuda_one_line_exit_0():
    res = subprocess.run([sys.executable, "-m", "course_utils.gpu_check"], cwd=ROOT, env=_env_without_cuda(),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("\n") == 1 and res.stdout.startswith("gpu-check: no CUDA device here"), res.stdout
    assert "Traceback" not in res.stderr


def test_make_gpu_check_without_cuda_one_line():
    # -o: take the environment as built (a pyproject.toml newer than the stamp would reinstall it first)
    res = subprocess.run(["make", "-s", "-o", ".venv/.course-installed", "gpu-check"], cwd=ROOT,
                         env=_env_without_cuda(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("\n") == 1 and "no CUDA device here" in res.stdout, res.stdout


def test_tolerances_are_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for line in tolerance_table().splitlines():
        assert line in readme, f"README.md lacks the tolerance line: {line}"
