"""NumPy RNN layers: numerical gradient checks (cs231n tolerances) and known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils import rnn
from course_utils.charrnn.gradcheck import numerical_gradient_array as numerical_gradient
from course_utils.grader.spec import rel_error


@pytest.fixture
def params():
    rng = np.random.default_rng(0)
    N, T, D, H = 2, 4, 3, 5
    return {"x": rng.normal(size=(N, T, D)), "h0": rng.normal(size=(N, H)), "Wx": rng.normal(size=(D, H)) * 0.5,
            "Wh": rng.normal(size=(H, H)) * 0.5, "b": rng.normal(size=H)}


def test_rnn_backward_matches_numerical_gradient(params):
    p = params
    h, cache = rnn.rnn_forward(p["x"], p["h0"], p["Wx"], p["Wh"], p["b"])
    dh = np.random.default_rng(1).normal(size=h.shape)
    grads = dict(zip(["x", "h0", "Wx", "Wh", "b"], rnn.rnn_backward(dh, cache)))
    f = lambda: rnn.rnn_forward(p["x"], p["h0"], p["Wx"], p["Wh"], p["b"])[0]
    for name, g in grads.items():
        assert rel_error(numerical_gradient(f, p[name], dh), g) < 1e-6, name


def test_birnn_backward_matches_numerical_gradient(params):
    p = params
    rng = np.random.default_rng(2)
    pf = {k: p[k] for k in ("Wx", "Wh", "b")}
    pb = {k: rng.normal(size=v.shape) * 0.5 for k, v in pf.items()}
    h, cache = rnn.birnn_forward(p["x"], p["h0"], -p["h0"], pf, pb)
    assert h.shape == (2, 4, 10)
    dh = rng.normal(size=h.shape)
    dx, dh0f, dh0b, gf, gb = rnn.birnn_backward(dh, cache)
    f = lambda: rnn.birnn_forward(p["x"], p["h0"], -p["h0"], pf, pb)[0]
    assert rel_error(numerical_gradient(f, p["x"], dh), dx) < 1e-6
    assert rel_error(numerical_gradient(f, pb["Wh"], dh), gb["Wh"]) < 1e-6
    assert rel_error(numerical_gradient(f, pf["b"], dh), gf["b"]) < 1e-6


def test_backward_half_reads_right_to_left(params):
    p = params
    pf = {k: p[k] for k in ("Wx", "Wh", "b")}
    h, _ = rnn.birnn_forward(p["x"], p["h0"], p["h0"], pf, pf)
    last_only, _ = rnn.rnn_forward(p["x"][:, -1:, :], p["h0"], **pf)
    np.testing.assert_allclose(h[:, -1, 5:], last_only[:, 0])   # has read only x_{T-1}


def test_temporal_softmax_loss_uniform_and_mask():
    rng = np.random.default_rng(0)
    N, T, V = 50, 3, 10
    y = rng.integers(0, V, (N, T))
    loss, dx = rnn.temporal_softmax_loss(np.zeros((N, T, V)), y)
    assert abs(loss / T - math.log(10)) < 1e-12           # 2.3026 per step
    mask = np.zeros((N, T), dtype=bool)
    mask[:, 0] = True
    loss_m, dx_m = rnn.temporal_softmax_loss(np.zeros((N, T, V)), y, mask)
    assert abs(loss_m - math.log(10)) < 1e-12 and np.all(dx_m[:, 1:] == 0)
    x = rng.normal(size=(3, 4, 5))
    y = rng.integers(0, 5, (3, 4))
    _, dx = rnn.temporal_softmax_loss(x, y)
    num = numerical_gradient(lambda: np.array(rnn.temporal_softmax_loss(x, y)[0]), x, np.array(1.0))
    assert rel_error(num, dx) < 1e-7


def test_temporal_affine_backward(params):
    rng = np.random.default_rng(3)
    x, w, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 6)), rng.normal(size=6)
    out, cache = rnn.temporal_affine_forward(x, w, b)
    dout = rng.normal(size=out.shape)
    dx, dw, db = rnn.temporal_affine_backward(dout, cache)
    f = lambda: rnn.temporal_affine_forward(x, w, b)[0]
    assert rel_error(numerical_gradient(f, w, dout), dw) < 1e-7
    assert rel_error(numerical_gradient(f, x, dout), dx) < 1e-7


def test_hello_model_known_values_and_errors():
    p = rnn.hello_params(seed=0)
    assert p["W_xh"].shape == (3, 4) and p["W_hh"].shape == (3, 3) and p["W_hy"].shape == (4, 3)
    zero = {k: np.zeros_like(v) for k, v in p.items()}
    out = rnn.hello_forward(zero, "hello")
    np.testing.assert_allclose(out["ps"], 0.25)
    assert abs(out["loss"] - 4 * math.log(4)) < 1e-12
    assert out["targets"].tolist() == [1, 2, 2, 3]        # e, l, l, o
    with pytest.raises(ValueError, match="only knows"):
        rnn.hello_forward(p, "help")


def test_shape_errors_are_explained():
    with pytest.raises(ValueError, match="expected x \\(N, D\\)"):
        rnn.rnn_step_forward(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((4, 4)), np.zeros((4, 4)), np.zeros(4))
    with pytest.raises(ValueError, match="\\(N, T, D\\)"):
        rnn.rnn_forward(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((3, 4)), np.zeros((4, 4)), np.zeros(4))
