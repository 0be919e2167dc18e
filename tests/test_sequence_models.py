"""Row-by-row sequence classifiers (course_utils.sequence_models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.data import load_digits_split
from course_utils.sequence_models import (RowRNNClassifier, evaluate_classifier, predict,
                                          train_classifier)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_output_shapes(cell, bidirectional):
    torch.manual_seed(0)
    model = RowRNNClassifier(8, 16, 10, cell=cell, num_layers=2, bidirectional=bidirectional)
    x = torch.randn(5, 8, 8)
    assert model(x).shape == (5, 10)
    dirs = 2 if bidirectional else 1
    assert model.encode(x).shape == (5, dirs * 16)
    assert model.hidden_states(x).shape == (5, 8, dirs * 16)
    if not bidirectional:
        steps = model.step_logits(x)
        assert steps.shape == (5, 8, 10)
        # the last step's read-out is the classifier's answer
        torch.testing.assert_close(steps[:, -1], model(x))


def test_variable_lengths_use_last_valid_step():
    torch.manual_seed(0)
    model = RowRNNClassifier(3, 8, 4, cell="gru")
    x = torch.randn(2, 6, 3)
    lengths = torch.tensor([6, 4])
    padded = x.clone()
    padded[1, 4:] = 99.0                      # garbage after the end must not matter
    out = model(padded, lengths)
    torch.testing.assert_close(out[1], model(x[1:2, :4])[0])
    torch.testing.assert_close(out[0], model(x[0:1])[0])


def test_clear_errors_for_bad_inputs():
    model = RowRNNClassifier(8, 16, 10)
    with pytest.raises(ValueError, match=r"\(N, T, 8\)"):
        model(torch.randn(4, 64))                 # a flattened image, not a sequence
    with pytest.raises(ValueError, match=r"\(N, T, 8\)"):
        model(torch.randn(4, 8, 7))               # wrong feature size
    with pytest.raises(ValueError, match="lengths"):
        model(torch.randn(2, 8, 8), torch.tensor([9, 3]))
    with pytest.raises(ValueError, match="cell must be one of"):
        RowRNNClassifier(cell="transformer")
    with pytest.raises(ValueError, match="bidirectional"):
        RowRNNClassifier(bidirectional=True).step_logits(torch.randn(1, 8, 8))


def test_short_training_reduces_loss():
    split = load_digits_split()
    torch.manual_seed(0)
    model = RowRNNClassifier(8, 32, 10, cell="gru")
    X_val, y_val = split.tensors("val", "cpu")
    before = evaluate_classifier(model, X_val, y_val)
    history = train_classifier(model, split, epochs=3, lr=1e-2, batch_size=64, device="cpu", seed=0,
                               live_plot=False)
    after = evaluate_classifier(model, X_val, y_val)
    assert len(history.loss) == 3 * int(np.ceil(len(split.y_train) / 64))
    assert after["loss"] < 0.6 * before["loss"]
    assert np.mean(history.loss[-5:]) < np.mean(history.loss[:5])
    assert history.evals["val acc"][-1] == pytest.approx(after["accuracy"])
    assert next(model.parameters()).device.type == "cpu"
    assert predict(model, X_val).shape == y_val.shape


def test_training_is_deterministic():
    split = load_digits_split()
    losses = []
    for _ in range(2):
        torch.manual_seed(1)
        model = RowRNNClassifier(8, 16, 10, cell="rnn")
        losses.append(train_classifier(model, split, epochs=1, device="cpu", seed=3, live_plot=False).loss)
    assert losses[0] == losses[1]
