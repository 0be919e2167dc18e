"""min-char-rnn: the faithful port, the batched version, sampling, clipping and gradient checks."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.charrnn.batched import cast_params, evaluate_loss, forward_logits, loss_fun_batched
from course_utils.charrnn.clipping import clip_by_global_norm, clip_by_value, global_norm
from course_utils.charrnn.gradcheck import check_gradients, numerical_gradient, rel_error, rel_error_norm
from course_utils.charrnn.minchar import (PARAM_NAMES, adagrad_update, init_params, initial_smooth_loss,
                                          loss_fun, prime_and_sample, sample)
from course_utils.charrnn.sampling import sampling_distribution, softmax
from course_utils.charrnn.train import check_training_data, train_batched, train_minchar, with_hparams

V, H, T = 7, 6, 5


@pytest.fixture
def setup():
    rng = np.random.default_rng(0)
    params = init_params(V, H, rng, scale=0.5)
    params["bh"] += rng.normal(0, 0.1, (H, 1))
    params["by"] += rng.normal(0, 0.1, (V, 1))
    ids = rng.integers(0, V, T + 1)
    h0 = rng.normal(0, 0.5, (H, 1))
    return params, ids[:-1], ids[1:], h0


def test_init_matches_the_original_settings():
    p = init_params(65, 100, np.random.default_rng(0))
    assert {k: v.shape for k, v in p.items()} == {"Wxh": (100, 65), "Whh": (100, 100), "Why": (65, 100),
                                                  "bh": (100, 1), "by": (65, 1)}
    assert abs(p["Whh"].std() - 0.01) < 0.001 and not p["bh"].any() and not p["by"].any()
    assert round(initial_smooth_loss(65, 25), 2) == 104.36


def test_uniform_model_loss_is_T_ln_V(setup):
    params, x, y, _ = setup
    zero = {k: np.zeros_like(v) for k, v in params.items()}
    loss, grads, h = loss_fun(x, y, np.zeros((H, 1)), zero)
    assert loss == pytest.approx(T * np.log(V), rel=1e-12)
    assert h.shape == (H, 1)


def test_gradient_check_without_clipping(setup):
    params, x, y, h0 = setup
    _, grads, _ = loss_fun(x, y, h0, params, clip=None)
    errors = check_gradients(lambda: loss_fun(x, y, h0, params, clip=None)[0], params, grads)
    assert max(errors.values()) < 1e-6, errors
    # the element-wise check also passes at these sizes
    for name in PARAM_NAMES:
        num = numerical_gradient(lambda: loss_fun(x, y, h0, params, clip=None)[0], params[name])
        assert rel_error(grads["d" + name], num) < 1e-5


def test_gradient_check_fails_for_a_wrong_gradient(setup):
    params, x, y, h0 = setup
    _, grads, _ = loss_fun(x, y, h0, params, clip=None)
    grads["dWhh"] = grads["dWhh"].T.copy()
    errors = check_gradients(lambda: loss_fun(x, y, h0, params, clip=None)[0], params, grads)
    assert errors["Whh"] > 1e-3


def test_elementwise_clipping_breaks_the_gradient_check(setup):
    params, x, y, h0 = setup
    big = {k: v * 20 for k, v in params.items()}
    _, clipped, _ = loss_fun(x, y, h0, big, clip=0.5)
    _, exact, _ = loss_fun(x, y, h0, big, clip=None)
    assert max(abs(g).max() for g in clipped.values()) <= 0.5
    assert max(rel_error_norm(clipped[k], exact[k]) for k in exact) > 1e-2


def test_faithful_and_batched_agree_for_one_sequence(setup):
    params, x, y, h0 = setup
    l1, g1, h1 = loss_fun(x, y, h0, params, clip=None)
    l2, g2, h2 = loss_fun_batched(x[None], y[None], h0.T.copy(), params, clip=None)
    assert rel_error(l1, l2) < 1e-10 and rel_error(h1.T, h2) < 1e-10
    for k in g1:
        assert g2[k].shape == g1[k].shape and rel_error(g1[k], g2[k]) < 1e-10, k


def test_batched_is_the_mean_over_sequences(setup):
    params, _, _, _ = setup
    rng = np.random.default_rng(3)
    X, Y = rng.integers(0, V, (4, T)), rng.integers(0, V, (4, T))
    h0 = rng.normal(0, 0.3, (4, H))
    loss, grads, hT = loss_fun_batched(X, Y, h0, params, clip=None)
    each = [loss_fun(X[b], Y[b], h0[b][:, None], params, clip=None) for b in range(4)]
    assert loss == pytest.approx(np.mean([e[0] for e in each]), rel=1e-12)
    for k in grads:
        assert rel_error(grads[k], np.mean([e[1][k] for e in each], axis=0)) < 1e-10
    assert rel_error(hT, np.hstack([e[2] for e in each]).T) < 1e-10


def test_batched_float32_is_close_to_float64(setup):
    params, _, _, _ = setup
    rng = np.random.default_rng(4)
    X, Y = rng.integers(0, V, (3, T)), rng.integers(0, V, (3, T))
    h0 = np.zeros((3, H))
    l64, g64, _ = loss_fun_batched(X, Y, h0, params)
    l32, g32, _ = loss_fun_batched(X, Y, h0.astype(np.float32), cast_params(params, "float32"))
    assert g32["dWhh"].dtype == np.float32
    assert l32 == pytest.approx(l64, rel=1e-5)
    assert max(rel_error_norm(g32[k], g64[k]) for k in g64) < 1e-5


def test_batched_rejects_bad_shapes_and_ids(setup):
    params, _, _, _ = setup
    with pytest.raises(ValueError, match="h0"):
        loss_fun_batched(np.zeros((2, 3), int), np.zeros((2, 3), int), np.zeros((3, H)), params)
    with pytest.raises(ValueError, match="ids"):
        loss_fun_batched(np.full((1, 3), V), np.zeros((1, 3), int), np.zeros((1, H)), params)


def test_loss_fun_rejects_out_of_vocabulary_ids(setup):
    params, x, y, h0 = setup
    with pytest.raises(ValueError, match="inputs"):
        loss_fun([0, V], [0, 1], h0, params)
    with pytest.raises(ValueError, match="targets"):
        loss_fun([0], [], h0, params)


def test_clipping_by_value_and_by_norm():
    g = {"a": np.array([3.0, -4.0]), "b": np.array([[12.0]])}
    assert global_norm(g) == pytest.approx(13.0)
    clipped, norm = clip_by_global_norm(g, 6.5)
    assert norm == pytest.approx(13.0) and global_norm(clipped) == pytest.approx(6.5)
    np.testing.assert_allclose(clipped["a"], [1.5, -2.0])          # same direction, half length
    same, _ = clip_by_global_norm(g, 100.0)
    np.testing.assert_array_equal(same["b"], g["b"])
    assert g["a"][1] == -4.0                                        # inputs untouched
    clip_by_value(g, 3.5)                                           # in place
    np.testing.assert_array_equal(g["a"], [3.0, -3.5])
    assert g["b"][0, 0] == 3.5
    with pytest.raises(ValueError):
        clip_by_global_norm(g, 0)


def test_adagrad_update_matches_the_formula():
    p = {k: np.ones((2, 1)) for k in PARAM_NAMES}
    m = {k: np.full((2, 1), 3.0) for k in PARAM_NAMES}
    g = {"d" + k: np.full((2, 1), 1.0) for k in PARAM_NAMES}
    adagrad_update(p, g, m, learning_rate=0.1)
    np.testing.assert_allclose(m["Whh"], 4.0)
    np.testing.assert_allclose(p["Whh"], 1 - 0.1 / np.sqrt(4.0 + 1e-8))


def test_temperature_and_top_k():
    y = np.array([2.0, 1.0, 0.0, -1.0])
    np.testing.assert_allclose(softmax(y).sum(), 1.0)
    cold, hot = sampling_distribution(y, 0.1), sampling_distribution(y, 10.0)
    assert cold[0] > 0.99 and hot.max() - hot.min() < 0.1
    top2 = sampling_distribution(y, 1.0, top_k=2)
    assert (top2[2:] == 0).all() and top2.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(top2[:2], softmax(y[:2]))
    with pytest.raises(ValueError, match="temperature"):
        softmax(y, 0.0)


def test_sampling_follows_the_model_distribution():
    # a model whose next character does not depend on the past: check the sample frequencies
    p = {"Wxh": np.zeros((2, 3)), "Whh": np.zeros((2, 2)), "Why": np.zeros((3, 2)),
         "bh": np.zeros((2, 1)), "by": np.log(np.array([[0.2], [0.3], [0.5]]))}
    ids = sample(np.zeros((2, 1)), 0, 20_000, p, np.random.default_rng(0))
    freq = np.bincount(ids, minlength=3) / len(ids)
    np.testing.assert_allclose(freq, [0.2, 0.3, 0.5], atol=0.015)
    greedy = sample(np.zeros((2, 1)), 0, 50, p, np.random.default_rng(0), temperature=0.01)
    assert set(greedy) == {2}


def test_sampling_is_reproducible_and_priming_validates(setup):
    params, _, _, _ = setup
    a = prime_and_sample(params, [1, 2, 3], 30, np.random.default_rng(5))
    b = prime_and_sample(params, [1, 2, 3], 30, np.random.default_rng(5))
    assert a == b and len(a) == 30 and all(0 <= i < V for i in a)
    with pytest.raises(ValueError, match="empty"):
        prime_and_sample(params, [], 5)
    with pytest.raises(ValueError, match="prime"):
        prime_and_sample(params, [V + 1], 5)


def test_bad_training_data_gives_clear_errors():
    with pytest.raises(ValueError, match="empty"):
        check_training_data(np.array([], dtype=np.int64), 25)
    with pytest.raises(ValueError, match="at least 26"):
        check_training_data(np.arange(25), 25)
    with pytest.raises(ValueError, match="batch_size=4"):
        check_training_data(np.arange(60), 25, batch_size=4)
    assert check_training_data(np.arange(26), 25).size == 26
    with pytest.raises(ValueError, match="iterations or a number of seconds"):
        train_minchar(np.arange(30) % 3, 3)


def test_training_reduces_the_loss_and_follows_the_original_loop():
    rng = np.random.default_rng(0)
    text = np.tile(np.array([0, 1, 2, 3, 2, 1]), 200)            # a periodic "language"
    hp = with_hparams(hidden_size=16, seq_length=10, sample_every=50, sample_length=12)
    seen = []
    r = train_minchar(text, 4, iters=300, hparams=hp, seed=1, progress=False, on_sample=lambda n, ids: seen.append(n))
    assert r.initial_smooth_loss == pytest.approx(10 * np.log(4))
    assert r.iterations == 300 and r.chars == 3000 and seen == [0, 50, 100, 150, 200, 250]
    assert all(len(ids) == 12 for _, ids in r.samples)
    assert r.val_loss(text[:200]) < 0.3                          # learnt the period (uniform: ln 4 = 1.39)
    rb = train_batched(text, 4, batch_size=4, iters=300, hparams=hp, seed=1, progress=False, dtype="float64")
    assert rb.chars == 300 * 10 * 4 and rb.val_loss(text[:200]) < 0.3
    assert r.final_smooth_loss < r.initial_smooth_loss


def test_training_is_deterministic():
    text = np.random.default_rng(0).integers(0, 5, 400)
    hp = with_hparams(hidden_size=8, seq_length=6, sample_every=0)
    a = train_minchar(text, 5, iters=20, hparams=hp, seed=3, progress=False)
    b = train_minchar(text, 5, iters=20, hparams=hp, seed=3, progress=False)
    np.testing.assert_array_equal(a.smooth_losses, b.smooth_losses)


def test_batched_b1_training_equals_the_faithful_loop():
    text = np.random.default_rng(0).integers(0, 5, 200)
    hp = with_hparams(hidden_size=8, seq_length=6, sample_every=0)
    a = train_minchar(text, 5, iters=40, hparams=hp, seed=2, progress=False)     # wraps around the data
    b = train_batched(text, 5, batch_size=1, iters=40, hparams=hp, seed=2, progress=False, dtype="float64")
    np.testing.assert_allclose(a.smooth_losses, b.smooth_losses, rtol=1e-10)
    for k in PARAM_NAMES:
        assert rel_error(a.params[k], b.params[k]) < 1e-8


def test_evaluate_loss_of_a_uniform_model_is_ln_V(setup):
    params, _, _, _ = setup
    zero = {k: np.zeros_like(v) for k, v in params.items()}
    ids = np.random.default_rng(0).integers(0, V, 500)
    assert evaluate_loss(zero, ids, n_streams=7, chunk=13) == pytest.approx(np.log(V))
    logits, hs = forward_logits(ids[None, :10], np.zeros((1, H)), params)
    assert logits.shape == (1, 10, V) and hs.shape == (1, 10, H)
