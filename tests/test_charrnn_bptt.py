"""Backpropagation through time: BPTT from arrays, truncation, Jacobian norms."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import rnn
from course_utils.charrnn.bptt import (bptt_backward, jacobian_norms, scale_to_spectral_radius, spectral_radius,
                                       truncated_bptt, truncated_loss_fun)
from course_utils.charrnn.gradcheck import numerical_gradient, rel_error, rel_error_norm
from course_utils.charrnn.minchar import init_params, loss_fun

N, T, D, H = 2, 7, 3, 4


@pytest.fixture
def net():
    rng = np.random.default_rng(0)
    return dict(x=rng.normal(size=(N, T, D)), h0=rng.normal(size=(N, H)), Wx=rng.normal(0, 0.6, (D, H)),
                Wh=rng.normal(0, 0.6, (H, H)), b=rng.normal(0, 0.2, H), R=rng.normal(size=(N, T, H)))


def _loss(net):
    h, _ = rnn.rnn_forward(net["x"], net["h0"], net["Wx"], net["Wh"], net["b"])
    return float(np.sum(h * net["R"]))


def test_bptt_backward_matches_numerical_gradients(net):
    h, _ = rnn.rnn_forward(net["x"], net["h0"], net["Wx"], net["Wh"], net["b"])
    dx, dh0, dWx, dWh, db = bptt_backward(net["R"], net["x"], net["h0"], net["Wx"], net["Wh"], h)
    for name, g in [("x", dx), ("h0", dh0), ("Wx", dWx), ("Wh", dWh), ("b", db)]:
        assert rel_error(g, numerical_gradient(lambda: _loss(net), net[name])) < 1e-7, name


def test_truncated_bptt_equals_full_bptt_when_k_covers_the_sequence(net):
    h, _ = rnn.rnn_forward(net["x"], net["h0"], net["Wx"], net["Wh"], net["b"])
    _, _, dWx, dWh, db = bptt_backward(net["R"], net["x"], net["h0"], net["Wx"], net["Wh"], h)
    args = (net["x"], net["h0"], net["Wx"], net["Wh"], net["b"], net["R"])
    for k in (T, T + 5):
        tWx, tWh, tb, hT = truncated_bptt(*args, k=k)
        assert rel_error(tWh, dWh) < 1e-12 and rel_error(tWx, dWx) < 1e-12 and rel_error(hT, h[:, -1]) < 1e-12


def test_truncation_drops_long_range_terms_and_k1_is_local(net):
    args = (net["x"], net["h0"], net["Wx"], net["Wh"], net["b"], net["R"])
    full = truncated_bptt(*args, k=T)
    errs = [rel_error_norm(truncated_bptt(*args, k=k)[1], full[1]) for k in (1, 2, 3)]
    assert errs[0] > 1e-2 and errs[0] > errs[2]
    # the carried state is the same whatever k is: truncation changes gradients, not the forward pass
    np.testing.assert_allclose(truncated_bptt(*args, k=2)[3], full[3], rtol=1e-12)
    # k = 1: every step sees its incoming state as a constant
    h, _ = rnn.rnn_forward(net["x"], net["h0"], net["Wx"], net["Wh"], net["b"])
    prev = np.concatenate([net["h0"][:, None], h[:, :-1]], axis=1)
    da = net["R"] * (1 - h ** 2)
    np.testing.assert_allclose(truncated_bptt(*args, k=1)[1], np.einsum("nth,ntk->hk", prev, da), rtol=1e-10)
    with pytest.raises(ValueError):
        truncated_bptt(*args, k=0)


def test_truncated_char_loss_keeps_the_loss_and_changes_the_gradient():
    rng = np.random.default_rng(1)
    params = init_params(5, 6, rng, scale=0.8)
    ids = rng.integers(0, 5, 31)
    h0 = np.zeros((6, 1))
    full = loss_fun(ids[:-1], ids[1:], h0, params, clip=None)
    for k in (30, 10, 3):
        tl = truncated_loss_fun(ids[:-1], ids[1:], h0, params, k)
        assert tl[0] == pytest.approx(full[0], rel=1e-12)
        np.testing.assert_allclose(tl[2], full[2], rtol=1e-12)
        err = rel_error_norm(tl[1]["dWhh"], full[1]["dWhh"])
        assert (err < 1e-12) if k == 30 else (err > 1e-4), (k, err)
    # Why and by only see the current step: truncation cannot change their gradients
    np.testing.assert_allclose(truncated_loss_fun(ids[:-1], ids[1:], h0, params, 3)[1]["dWhy"], full[1]["dWhy"],
                               rtol=1e-10)


def test_jacobian_norms_decay_and_grow_with_the_spectral_radius():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(20, 20))
    Q, _ = np.linalg.qr(W)                                     # orthogonal: every singular value 1
    for rho in (0.5, 1.0, 1.5):
        lin = jacobian_norms(rho * Q, 12, activation="linear")
        np.testing.assert_allclose(lin, rho ** np.arange(13), rtol=1e-10)
    Ws = scale_to_spectral_radius(W, 0.9)
    assert spectral_radius(Ws) == pytest.approx(0.9)
    tanh = jacobian_norms(1.5 * Q, 12)
    assert tanh[0] == 1 and np.all(tanh <= 1.5 ** np.arange(13) + 1e-9)   # saturation only shrinks it
    with pytest.raises(ValueError):
        jacobian_norms(Q, 3, activation="relu")


def test_jacobian_norms_match_finite_differences():
    rng = np.random.default_rng(2)
    Wh, Wx, b = rng.normal(0, 0.5, (4, 4)), rng.normal(size=(2, 4)), rng.normal(0, 0.1, 4)
    x = rng.normal(size=(6, 2))
    norms = jacobian_norms(Wh, 6, Wx=Wx, x=x, b=b)

    def h_T(h_k, k):                    # run from state h_k at step k to the end
        h = h_k
        for t in range(k, 6):
            h = np.tanh(x[t] @ Wx + h @ Wh + b)
        return h

    h = np.zeros(4)
    for t in range(3):
        h = np.tanh(x[t] @ Wx + h @ Wh + b)
    J = np.empty((4, 4))
    for j in range(4):
        e = np.zeros(4)
        e[j] = 1e-6
        J[:, j] = (h_T(h + e, 3) - h_T(h - e, 3)) / 2e-6
    assert np.linalg.norm(J, 2) == pytest.approx(norms[3], rel=1e-6)
