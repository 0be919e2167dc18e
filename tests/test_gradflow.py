"""Gradient-flow measurement of unit 6: autograd norms by distance, decay factors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.gradflow import decay_per_step, state_gradient_norms


def test_linear_rnn_gradient_norms_follow_the_recurrent_matrix():
    torch.manual_seed(0)
    cell = torch.nn.RNNCell(2, 3, nonlinearity="relu").double()
    with torch.no_grad():
        cell.weight_hh.copy_(0.5 * torch.eye(3, dtype=torch.float64))
        cell.weight_ih.zero_()
        cell.bias_ih.fill_(1.0)
        cell.bias_hh.zero_()
    norms = state_gradient_norms(cell, torch.zeros(6, 1, 2, dtype=torch.float64))["h"]
    np.testing.assert_allclose(norms, 0.5 ** np.arange(6), rtol=1e-12)   # ||u|| = 1, halved per step
    assert decay_per_step(norms, 1, 5) == pytest.approx(0.5)


def test_lstm_reports_cell_gradients_and_open_forget_gates_keep_them():
    torch.manual_seed(0)
    x = torch.randn(30, 4, 3, dtype=torch.float64)
    rates = []
    for bf in (0.0, 5.0):
        torch.manual_seed(1)
        cell = torch.nn.LSTMCell(3, 8).double()
        with torch.no_grad():
            cell.bias_ih[8:16] += bf
        out = state_gradient_norms(cell, x)
        assert set(out) == {"h", "c"} and out["h"].shape == out["c"].shape == (30,)
        rates.append(decay_per_step(out["c"], 5, 25))
    assert rates[0] < 0.8 < 0.95 < rates[1]


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"\(T, N, D\)"):
        state_gradient_norms(torch.nn.RNNCell(2, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="start"):
        decay_per_step(np.ones(5), 3, 3)


def test_clipping_run_records_norms_before_clipping_and_clips():
    import torch

    from course_utils.gradflow import clipping_run

    g = torch.Generator().manual_seed(0)
    X, y = torch.rand(40, 6, 2, generator=g), torch.randint(0, 3, (40,), generator=g)
    seen = []
    free = clipping_run(X, y, clip=None, lr=0.1, steps=4, hidden=5, batch=8,
                        callback=lambda i, m, loss, norm: seen.append((i, loss, norm)))
    tight = clipping_run(X, y, clip=1e-3, lr=0.1, steps=4, hidden=5, batch=8)
    assert free["loss"].shape == free["grad_norm"].shape == (4,) and [s[0] for s in seen] == [0, 1, 2, 3]
    assert free["grad_norm"][0] == tight["grad_norm"][0] > 1e-3          # same start; the norm before clipping
    assert np.isclose(free["loss"][0], tight["loss"][0])
    with pytest.raises(ValueError):
        clipping_run(X, y, clip=0.0, lr=0.1, steps=1)
