"""NumPy LSTM/GRU layers: numerical gradient checks, agreement with torch.nn.LSTM/GRU, shape errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils import lstm
from course_utils.charrnn.gradcheck import numerical_gradient_array as numerical_gradient
from course_utils.grader.spec import rel_error


def _params(rng, N=2, T=4, D=3, H=5, scale=0.5):
    return {"x": rng.normal(size=(N, T, D)), "h0": rng.normal(size=(N, H)), "Wx": rng.normal(0, scale, (D, 4 * H)),
            "Wh": rng.normal(0, scale, (H, 4 * H)), "b": rng.normal(0, scale, 4 * H), "c0": rng.normal(size=(N, H))}


def test_lstm_step_backward_matches_numerical_gradient():
    rng = np.random.default_rng(0)
    p = _params(rng)
    x, h, c = p["x"][:, 0], p["h0"], p["c0"]
    args = {"x": x, "prev_h": h, "prev_c": c, "Wx": p["Wx"], "Wh": p["Wh"], "b": p["b"]}
    next_h, next_c, cache = lstm.lstm_step_forward(**args)
    dh, dc = rng.normal(size=next_h.shape), rng.normal(size=next_c.shape)
    grads = lstm.lstm_step_backward(dh, dc, cache)
    f = lambda: lstm.lstm_step_forward(**args)[:2]
    for g, name in zip(grads, ["x", "prev_h", "prev_c", "Wx", "Wh", "b"]):
        assert rel_error(g, numerical_gradient(f, args[name], (dh, dc))) < 1e-6, name


def test_lstm_backward_matches_numerical_gradient():
    rng = np.random.default_rng(1)
    p = _params(rng)
    h, cache = lstm.lstm_forward(**p)
    dh = rng.normal(size=h.shape)
    grads = lstm.lstm_backward(dh, cache)
    f = lambda: (lstm.lstm_forward(**p)[0],)
    for g, name in zip(grads, ["x", "h0", "c0", "Wx", "Wh", "b"]):
        assert g.shape == p[name].shape
        assert rel_error(g, numerical_gradient(f, p[name], (dh,))) < 1e-6, name


def test_lstm_forward_records_states_and_gates():
    p = _params(np.random.default_rng(2), T=3)
    h, cache = lstm.lstm_forward(**p)
    assert cache["c"].shape == h.shape and set(cache["gates"]) == {"i", "f", "g", "o"}
    np.testing.assert_allclose(h, cache["gates"]["o"] * np.tanh(cache["c"]))
    c1 = cache["gates"]["f"][:, 0] * p["c0"] + cache["gates"]["i"][:, 0] * cache["gates"]["g"][:, 0]
    np.testing.assert_allclose(cache["c"][:, 0], c1)
    # c0 defaults to zeros
    h_zero, _ = lstm.lstm_forward(p["x"], p["h0"], p["Wx"], p["Wh"], p["b"])
    h_explicit, _ = lstm.lstm_forward(p["x"], p["h0"], p["Wx"], p["Wh"], p["b"], c0=np.zeros_like(p["h0"]))
    np.testing.assert_array_equal(h_zero, h_explicit)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_lstm_matches_torch(dtype, tol):
    torch.manual_seed(0)
    m = torch.nn.LSTM(4, 6, batch_first=True).to(dtype)
    x = torch.randn(3, 7, 4, dtype=dtype)
    h0, c0 = torch.randn(1, 3, 6, dtype=dtype), torch.randn(1, 3, 6, dtype=dtype)
    with torch.no_grad():
        out, (hT, cT) = m(x, (h0, c0))
    p = lstm.lstm_params_from_torch(m)
    h, cache = lstm.lstm_forward(x.numpy(), h0[0].numpy(), p["Wx"], p["Wh"], p["b"], c0=c0[0].numpy())
    assert h.dtype == x.numpy().dtype
    assert np.abs(h - out.numpy()).max() < tol
    assert np.abs(cache["c"][:, -1] - cT[0].numpy()).max() < tol


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_gru_matches_torch(dtype, tol):
    torch.manual_seed(1)
    m = torch.nn.GRU(4, 6, batch_first=True).to(dtype)
    x, h0 = torch.randn(3, 7, 4, dtype=dtype), torch.randn(1, 3, 6, dtype=dtype)
    with torch.no_grad():
        out, _ = m(x, h0)
    h, gates = lstm.gru_forward(x.numpy(), h0[0].numpy(), **lstm.gru_params_from_torch(m))
    assert np.abs(h - out.numpy()).max() < tol
    assert set(gates) == {"r", "z", "n"}


def test_gru_step_interpolates_between_state_and_candidate():
    rng = np.random.default_rng(3)
    x, h = rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    Wx, Wh, bx, bh = rng.normal(size=(3, 12)), rng.normal(size=(4, 12)), rng.normal(size=12), rng.normal(size=12)
    bx_hi = bx.copy()
    bx_hi[4:8] = 50.0                   # z = 1: keep the old state
    next_h, _ = lstm.gru_step_forward(x, h, Wx, Wh, bx_hi, bh)
    np.testing.assert_allclose(next_h, h, atol=1e-12)
    bx_lo = bx.copy()
    bx_lo[4:8] = -50.0                  # z = 0: take the candidate n
    next_h, (r, z, n, *_) = lstm.gru_step_forward(x, h, Wx, Wh, bx_lo, bh)
    np.testing.assert_allclose(next_h, n, atol=1e-12)


def test_saturated_gates_are_finite():
    rng = np.random.default_rng(4)
    p = _params(rng, scale=50.0)
    with np.errstate(all="raise"):
        h, cache = lstm.lstm_forward(**p)
        grads = lstm.lstm_backward(np.ones_like(h), cache)
    assert np.all(np.isfinite(h)) and all(np.all(np.isfinite(g)) for g in grads)
    assert np.allclose(lstm.sigmoid(np.array([-800.0, 0.0, 800.0])), [0.0, 0.5, 1.0])


def test_wrong_shapes_raise_value_error():
    rng = np.random.default_rng(5)
    x, h, c = rng.normal(size=(2, 3)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    Wx, Wh, b = rng.normal(size=(3, 16)), rng.normal(size=(4, 16)), rng.normal(size=16)
    with pytest.raises(ValueError, match=r"Wx \(D, 4H\)"):
        lstm.lstm_step_forward(x, h, c, rng.normal(size=(3, 12)), Wh, b)
    with pytest.raises(ValueError, match="prev_c"):
        lstm.lstm_step_forward(x, h, c[:, :3], Wx, Wh, b)
    with pytest.raises(ValueError, match=r"\(N, T, D\)"):
        lstm.lstm_forward(x, h, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"bh \(3H,\)"):
        lstm.gru_step_forward(x, h, rng.normal(size=(3, 12)), rng.normal(size=(4, 12)), np.zeros(12), np.zeros(8))
    with pytest.raises(ValueError, match="2-D"):
        lstm.lstm_step_forward(x[0], h, c, Wx, Wh, b)
