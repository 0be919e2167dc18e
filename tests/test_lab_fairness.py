"""Labs 3-8 reward exactly what they ask: one bug is charged once, messages name outputs, the
correct variants the text allows get full marks, a correct lab 4 gets no spurious grader note."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_utils.grader.grade import grade_notebook
from course_utils.grader.labs import _common
from course_utils.grader.validate import _with_cell
from course_utils.notebooks import read_notebook

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _grade(tmp_path: Path, lab: str, extra: str = "", seed: int = 7):
    nb = read_notebook(ROOT / "solutions" / f"{lab}_lab.ipynb")
    if extra:
        nb = _with_cell(nb, extra)
    path = tmp_path / f"{lab}_lab.ipynb"
    nbformat.write(nb, str(path))
    result = grade_notebook(path, seed=seed)
    return result, {q.id: q for q in result.questions}


def _mutant(lab: str, name: str) -> str:
    return (ROOT / "tests" / "mutants" / lab / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("lab, mutant, loses, keeps", [
    ("03_rnn_basics", "sign_error.py", "q1", ("q3", "q4")),
    ("05_bptt", "no_recurrent_gradient.py", "q1", ("q4",)),
    ("06_lstm_gates", "gate_order_ifog.py", "q1", ("q2",)),
])
def test_a_bug_in_an_earlier_answer_is_charged_once(tmp_path, lab, mutant, loses, keeps):
    _, qs = _grade(tmp_path, lab, _mutant(lab, mutant))
    assert qs[loses].score < qs[loses].max
    for q in keeps:
        assert qs[q].score == qs[q].max, qs[q].message


def test_messages_name_the_outputs(tmp_path):
    solution = _mutant("04_min_char_rnn", "mean_loss_first_state.py")      # a full copy of loss_fun ...
    wrong_dby = (solution.replace("loss / len(inputs)", "loss").replace("h_first)", "hs[len(inputs) - 1])")
                 .replace("dby += dy", "dby += 2 * dy"))                       # ... whose only bug is in dby
    assert wrong_dby.count("2 * dy") == 1
    _, qs = _grade(tmp_path, "04_min_char_rnn", wrong_dby)
    assert "dby" in qs["q1"].message and "output[" not in qs["q1"].message
    assert "T=25: T=25" not in qs["q1"].message


def test_correct_lab_4_gets_no_grader_note(tmp_path):
    result, qs = _grade(tmp_path, "04_min_char_rnn")
    assert result.notes == [] and all(q.score == q.max for q in qs.values())


def test_rebinding_update_is_named(tmp_path):
    _, qs = _grade(tmp_path, "04_min_char_rnn", _mutant("04_min_char_rnn", "rebinds_instead_of_in_place.py"))
    assert 0 < qs["q3"].score < qs["q3"].max and "in place" in qs["q3"].message


@pytest.mark.parametrize("scale", ["max_norm / norm if norm > max_norm else 1.0",       # the textbook form
                                   "min(1.0, max_norm / (norm + 1e-6))"])              # torch's formula
def test_lab_8_accepts_both_clipping_formulas(tmp_path, scale):
    variant = ("def clip_by_global_norm(grads, max_norm):\n"
               "    norm = float(np.sqrt(sum(np.sum(np.asarray(g, dtype=float) ** 2) for g in grads)))\n"
               f"    scale = {scale}\n"
               "    return [np.asarray(g, dtype=float) * scale for g in grads], norm\n")
    _, qs = _grade(tmp_path, "08_monitoring", variant)
    assert qs["q1"].score == qs["q1"].max, qs["q1"].message


def test_reference_sources_match_the_course_references():
    import numpy as np

    from course_utils import lstm, rnn
    from course_utils.charrnn import bptt

    ns = {}
    for name, src in _common.REFERENCE_SOURCES.items():
        exec(compile(src, name, "exec"), ns)
    g = np.random.default_rng(0)
    N, T, D, H = 2, 5, 3, 4
    x, h0 = g.normal(size=(N, T, D)), g.normal(size=(N, H))
    Wx, Wh, b = g.normal(size=(D, H)), g.normal(size=(H, H)), g.normal(size=H)
    h, _ = rnn.rnn_forward(x, h0, Wx, Wh, b)
    assert np.allclose(ns["rnn_forward"](x, h0, Wx, Wh, b), h)
    assert np.allclose(ns["rnn_step_forward"](x[:, 0], h0, Wx, Wh, b), h[:, 0])
    R = g.normal(size=(N, T, H))
    for a, e in zip(ns["rnn_backward"](R, x, h0, Wx, Wh, h), bptt.bptt_backward(R, x, h0, Wx, Wh, h)):
        assert np.allclose(a, e)
    Wx4, Wh4, b4, c0 = g.normal(size=(D, 4 * H)), g.normal(size=(H, 4 * H)), g.normal(size=4 * H), g.normal(size=(N, H))
    nh, nc, _ = lstm.lstm_step_forward(x[:, 0], h0, c0, Wx4, Wh4, b4)
    got = ns["lstm_step_forward"](x[:, 0], h0, c0, Wx4, Wh4, b4)
    assert np.allclose(got[0], nh) and np.allclose(got[1], nc)
