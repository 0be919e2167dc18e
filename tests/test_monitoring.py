"""Unit 8: event files written by TensorBoardLogger read back unchanged."""

import numpy as np
import pytest
import torch

from course_utils.monitoring import LiveDashboard, TensorBoardLogger, global_grad_norm, read_scalars, read_tags
from course_utils.sequence_models import RowRNNClassifier


def test_scalars_round_trip(tmp_path):
    losses = [2.5, 1.25, 0.75, 0.5]
    with TensorBoardLogger(tmp_path / "run") as log:
        for step, loss in enumerate(losses):
            log.scalars(step * 10, train__loss=loss, accuracy=step / 4)
    got = read_scalars(tmp_path / "run")
    assert set(got) == {"train/loss", "accuracy"}
    steps, values = got["train/loss"]
    np.testing.assert_array_equal(steps, [0, 10, 20, 30])
    np.testing.assert_allclose(values, losses, rtol=1e-7)
    np.testing.assert_allclose(got["accuracy"][1], [0, 0.25, 0.5, 0.75], rtol=1e-6)


def test_histograms_text_graph(tmp_path):
    torch.manual_seed(0)
    model = RowRNNClassifier(8, 6, 3, cell="gru")
    x = torch.randn(2, 5, 8)
    model(x).sum().backward()
    with TensorBoardLogger(tmp_path) as log:
        log.histograms(model, step=0)
        log.text("samples", "predicted 3, true 3", step=0)
        log.graph(model, x)
    tags = read_tags(tmp_path)
    names = [n for n, _ in model.named_parameters()]
    assert set(tags["histograms"]) == {f"{k}/{n}" for k in ("weights", "grads") for n in names}
    assert tags["text"] == ["samples/text_summary"]
    assert tags["graph"] is True


def test_global_grad_norm_matches_clip():
    torch.manual_seed(1)
    model = RowRNNClassifier(8, 6, 3, cell="rnn")
    model(torch.randn(3, 4, 8)).pow(2).sum().backward()
    before = global_grad_norm(model.parameters())
    returned = float(torch.nn.utils.clip_grad_norm_(model.parameters(), before / 2))
    assert before == pytest.approx(returned, rel=1e-6)
    assert global_grad_norm(model.parameters()) == pytest.approx(before / 2, rel=1e-5)


def test_read_missing_run(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_scalars(tmp_path)


def test_dashboard_headless(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    dash = LiveDashboard(["loss"], every=2)
    for step in range(4):
        dash.update(step, loss=1.0 / (step + 1))
    assert capsys.readouterr().out.splitlines() == ["step     1  loss 0.500", "step     3  loss 0.250"]
    assert dash.history["loss"][0] == [0, 1, 2, 3]
