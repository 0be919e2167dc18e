"""Unit 2: linear classifiers and adversarial attacks (course_utils.linear, course_utils.adversarial, lab 2's references).

``torchattacks`` is not a test dependency: its only release (3.5.1) requires torchvision and requests~=2.25.1,
which would replace the pinned CPU torch 2.13.0 by another build; FGSM is checked against the closed form of a
linear softmax model instead.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import adversarial as adv
from course_utils.linear import SoftmaxClassifier, sigmoid, softmax, train_softmax

TOY_X = np.array([2, -1, 3, -2, 2, 2, 1, -4, 5, 1], dtype=float)
TOY_W = np.array([-1, -1, 1, -1, 1, -1, 1, 1, -1, 1], dtype=float)


def linear_model(D: int, C: int, seed: int = 0) -> tuple[nn.Module, np.ndarray, np.ndarray]:
    """A torch softmax classifier scores = x W + b, with W (D, C) and b (C,) also returned as float64 arrays."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(D, C, generator=g, dtype=torch.float64)
    b = torch.randn(C, generator=g, dtype=torch.float64)
    model = nn.Sequential(nn.Flatten(), nn.Linear(D, C)).double()
    with torch.no_grad():
        model[1].weight.copy_(W.T)
        model[1].bias.copy_(b)
    return model.float().eval(), model[1].weight.detach().double().T.numpy(), model[1].bias.detach().double().numpy()


def closed_form_grad(X: np.ndarray, y: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    P = softmax(X @ W + b)
    P[np.arange(len(y)), y] -= 1
    return P @ W.T


# ---------------------------------------------------------------- the slides' toy, linear formulas

def test_toy_example_numbers():
    score = TOY_W @ TOY_X
    x_adv = adv.linear_attack(TOY_X, TOY_W, 0.5)
    assert score == -3 and round(sigmoid(score), 4) == 0.0474
    np.testing.assert_array_equal(x_adv, [1.5, -1.5, 3.5, -2.5, 2.5, 1.5, 1.5, -3.5, 4.5, 1.5])
    assert TOY_W @ x_adv == 2 and round(sigmoid(TOY_W @ x_adv), 4) == 0.8808
    np.testing.assert_allclose(adv.linear_attack(TOY_X, TOY_W, 0.5, toward=0) @ TOY_W, -8.0)


def test_min_flip_eps_is_the_boundary():
    rng = np.random.default_rng(0)
    assert adv.min_flip_eps(TOY_X, TOY_W, 0.0) == pytest.approx(0.3)
    for _ in range(20):
        D = int(rng.integers(1, 50))
        x, w, b = rng.normal(size=D), rng.normal(size=D), float(rng.normal())
        score = x @ w + b
        eps = adv.min_flip_eps(x, w, b)
        toward = 0 if score > 0 else 1
        assert adv.linear_attack(x, w, eps, toward=toward) @ w + b == pytest.approx(0.0, abs=1e-9)
        # a little less keeps the decision, a little more flips it
        assert np.sign(adv.linear_attack(x, w, 0.99 * eps, toward=toward) @ w + b) == np.sign(score)
        assert np.sign(adv.linear_attack(x, w, 1.01 * eps, toward=toward) @ w + b) == -np.sign(score)
    np.testing.assert_allclose(adv.min_flip_eps(np.stack([TOY_X, -TOY_X]), TOY_W, 0.0), [0.3, 0.3])
    with pytest.raises(ValueError, match="all zeros"):
        adv.min_flip_eps(TOY_X, np.zeros(10), 0.0)


def test_eps_for_score_change_scales_like_one_over_d():
    dims = np.array([10, 1024, 150_528])
    eps = adv.eps_for_score_change(5.0, dims)
    np.testing.assert_allclose(eps * dims, 5.0)
    rng = np.random.default_rng(1)
    for D in dims:
        w = rng.choice([-1.0, 1.0], size=D)
        assert adv.linear_attack(np.zeros(D), w, adv.eps_for_score_change(5.0, D)) @ w == pytest.approx(5.0)
    assert adv.eps_for_score_change(5.0, 10, weight_scale=2.0) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        adv.eps_for_score_change(1.0, 0)


def test_bad_budgets_are_refused():
    model, _, _ = linear_model(4, 3)
    x, y = torch.rand(2, 4), torch.tensor([0, 1])
    for bad in (-0.1, float("nan"), float("inf"), "0.1", True):
        with pytest.raises(ValueError, match="eps"):
            adv.fgsm(model, x, y, bad)
    with pytest.raises(ValueError, match="toward"):
        adv.linear_attack(TOY_X, TOY_W, 0.1, toward=2)
    with pytest.raises(ValueError, match="labels"):
        adv.fgsm(model, x, torch.tensor([0, 1, 2]), 0.1)
    with pytest.raises(ValueError, match="integer"):
        adv.fgsm(model, x, torch.tensor([0.0, 1.0]), 0.1)
    with pytest.raises(TypeError, match="torch.Tensor"):
        adv.fgsm(model, x.numpy(), y, 0.1)
    with pytest.raises(ValueError, match="steps"):
        adv.pgd(model, x, y, 0.1, steps=0)


# ---------------------------------------------------------------- softmax classifier

def test_softmax_input_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    clf = SoftmaxClassifier(W=rng.normal(size=(6, 4)), b=rng.normal(size=4))
    X, y = rng.uniform(size=(3, 6)), np.array([0, 3, 1])

    def loss(Z):
        return -np.log(clf.proba(Z)[np.arange(3), y]).sum()

    num = np.zeros_like(X)
    h = 1e-6
    for idx in np.ndindex(*X.shape):
        Xp, Xm = X.copy(), X.copy()
        Xp[idx] += h
        Xm[idx] -= h
        num[idx] = (loss(Xp) - loss(Xm)) / (2 * h)
    np.testing.assert_allclose(clf.input_gradient(X, y), num, rtol=1e-6, atol=1e-8)


def test_train_softmax_learns_and_checks_inputs():
    rng = np.random.default_rng(3)
    centres = rng.normal(0, 2, (3, 5))
    y = rng.integers(0, 3, 300)
    X = centres[y] + rng.normal(0, 0.5, (300, 5))
    clf = train_softmax(X, y, num_classes=3, iters=100, lr=0.1)
    assert clf.history[-1] < 0.3 * clf.history[0]
    assert clf.accuracy(X, y) > 0.95
    assert clf.templates((5,)).shape == (3, 5)
    with pytest.raises(ValueError, match="labels"):
        train_softmax(X, y + 3, num_classes=3)
    with pytest.raises(ValueError, match="shape"):
        clf.scores(X[:, :4])
    assert sigmoid(-800.0) == pytest.approx(0.0) and sigmoid(800.0) == pytest.approx(1.0)


def test_mix_template_reaches_the_target_with_the_smallest_alpha():
    rng = np.random.default_rng(4)
    W, b = rng.normal(size=(20, 4)), np.zeros(4)
    x = rng.uniform(0.3, 0.7, 20)
    for direction in ("template", "sign"):
        for t in range(4):
            x_mix, alpha, p = adv.mix_template(x, W, b, t, confidence=0.99, max_alpha=5.0, direction=direction,
                                               clip=None)
            assert p >= 0.99
            step = W[:, t] / np.abs(W[:, t]).max() if direction == "template" else np.sign(W[:, t])
            np.testing.assert_allclose(x_mix, x + alpha * step)
            assert softmax(((x + (alpha - 2e-4) * step) @ W + b)[None])[0, t] < 0.99
            x_mix, alpha, p = adv.mix_template(x, W, b, t, max_alpha=5.0, direction=direction)   # clipped to [0, 1]
            assert x_mix.min() >= 0 and x_mix.max() <= 1 and (p >= 0.99) == (not np.isnan(alpha))
    _, alpha, p = adv.mix_template(x, W, b, 0, confidence=0.99, max_alpha=1e-3)
    assert np.isnan(alpha) and p < 0.99
    with pytest.raises(ValueError, match="direction"):
        adv.mix_template(x, W, b, 0, direction="l2")
    with pytest.raises(ValueError, match="target"):
        adv.mix_template(x, W, b, 7)


# ---------------------------------------------------------------- attacks on torch models

def test_fgsm_equals_the_closed_form_of_a_linear_model():
    model, W, b = linear_model(12, 5)
    rng = np.random.default_rng(5)
    X = rng.uniform(0.3, 0.7, (8, 12))               # interior: eps = 0.1 never reaches the clip
    y = rng.integers(0, 5, 8)
    expected = X + 0.1 * np.sign(closed_form_grad(X, y, W, b))
    got = adv.fgsm(model, torch.tensor(X, dtype=torch.float32), torch.tensor(y), 0.1)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-6)
    targeted = adv.fgsm(model, torch.tensor(X, dtype=torch.float32), torch.tensor(y), 0.1, targeted=True)
    np.testing.assert_allclose(targeted.numpy(), X - 0.1 * np.sign(closed_form_grad(X, y, W, b)), atol=1e-6)
    # the lab's grader uses the same formula, as NumPy and as the source bound in the sandbox
    from course_utils.grader.labs import lab02_adversarial as lab
    np.testing.assert_allclose(lab._fgsm(X, y, W, b, 0.1), expected, atol=1e-12)
    ns: dict = {}
    exec(lab.FGSM_SOURCE, ns)
    np.testing.assert_allclose(ns["fgsm_linear"](X, y, W, b, 0.1), expected, atol=1e-12)


def test_fgsm_moves_the_loss_the_right_way_and_clips():
    model, W, b = linear_model(30, 4, seed=1)
    X = torch.rand(16, 30)
    y = torch.randint(0, 4, (16,))
    loss = lambda Z, t: nn.functional.cross_entropy(model(Z), t, reduction="none")  # noqa: E731
    up = adv.fgsm(model, X, y, 0.05)
    assert bool((loss(up, y) > loss(X, y)).all())                 # untargeted: every example's loss rises
    down = adv.fgsm(model, X, y, 0.05, targeted=True)
    assert bool((loss(down, y) < loss(X, y)).all())               # targeted: the target's loss falls
    big = adv.fgsm(model, X, y, 0.8)
    assert float(big.min()) >= 0 and float(big.max()) <= 1
    assert float((big - X).abs().max()) <= 0.8 + 1e-6
    free = adv.fgsm(model, X, y, 0.8, clip=None)
    assert float(free.min()) < 0 or float(free.max()) > 1
    assert all(p.grad is None for p in model.parameters())       # parameters untouched
    with torch.no_grad():                                         # works inside a caller's no_grad block
        torch.testing.assert_close(adv.fgsm(model, X, y, 0.05), up)


def test_pgd_stays_in_the_ball_and_one_full_step_is_fgsm():
    model, _, _ = linear_model(20, 3, seed=2)
    X = torch.rand(10, 20)
    y = torch.randint(0, 3, (10,))
    for kwargs in ({}, {"random_start": True, "seed": 3}, {"targeted": True, "steps": 5, "alpha": 0.05}):
        Z = adv.pgd(model, X, y, 0.1, **kwargs)
        assert float((Z - X).abs().max()) <= 0.1 + 1e-6
        assert float(Z.min()) >= 0 and float(Z.max()) <= 1
    torch.testing.assert_close(adv.pgd(model, X, y, 0.1, steps=1, alpha=0.1), adv.fgsm(model, X, y, 0.1))
    # more steps never lower the loss of a linear (convex) model below the one-step result by much
    ce = lambda Z: float(nn.functional.cross_entropy(model(Z), y, reduction="sum").detach())  # noqa: E731
    assert ce(adv.pgd(model, X, y, 0.1, steps=20)) >= ce(adv.fgsm(model, X, y, 0.1)) - 1e-4


def test_project_linf():
    x = torch.full((1, 4), 0.5)
    z = torch.tensor([[0.0, 0.45, 0.9, 0.56]])
    torch.testing.assert_close(adv.project_linf(z, x, 0.1), torch.tensor([[0.4, 0.45, 0.6, 0.56]]))
    torch.testing.assert_close(adv.project_linf(torch.tensor([[2.0]]), torch.tensor([[0.95]]), 0.1),
                               torch.tensor([[1.0]]))
    with pytest.raises(ValueError, match="shape"):
        adv.project_linf(z, x[:, :2], 0.1)


def test_random_sign_noise_has_the_fgsm_size():
    model, _, _ = linear_model(50, 2)
    X = torch.rand(6, 50) * 0.5 + 0.25
    y = torch.zeros(6, dtype=torch.long)
    Z = adv.random_sign_noise(model, X, y, 0.1, seed=7)
    torch.testing.assert_close((Z - X).abs(), torch.full_like(X, 0.1))
    torch.testing.assert_close(Z, adv.random_sign_noise(model, X, None, 0.1, seed=7))
    assert not torch.equal(Z, adv.random_sign_noise(model, X, y, 0.1, seed=8))
    assert float(torch.linalg.norm(Z - X)) == pytest.approx(float(torch.linalg.norm(adv.fgsm(model, X, y, 0.1) - X)),
                                                            rel=1e-5)


def test_accuracy_vs_eps():
    model, W, b = linear_model(16, 4, seed=4)
    X = torch.rand(40, 16)
    y = torch.tensor((X.double().numpy() @ W + b).argmax(1))
    y[:5] = (y[:5] + 1) % 4                                      # five wrong labels: clean accuracy 35/40
    accs = adv.accuracy_vs_eps(model, X, y, [0.0, 0.05, 0.3], batch_size=16)
    assert accs.shape == (3,) and accs[0] == pytest.approx(35 / 40)
    assert accs[2] < accs[0]
    noise = adv.accuracy_vs_eps(model, X, y, [0.0], adv.random_sign_noise)
    assert noise[0] == pytest.approx(35 / 40)


def test_fooling_images_reach_the_confidence():
    model, _, _ = linear_model(64, 10, seed=5)
    images, p, steps = adv.fooling_images(model, range(10), (1, 8, 8), confidence=0.996, steps=500, lr=0.1)
    assert images.shape == (10, 1, 8, 8) and float(images.min()) >= 0 and float(images.max()) <= 1
    assert bool((p >= 0.996).all()) and 0 < steps < 500
    assert all(q.grad is None for q in model.parameters())


def test_adversarial_training_trains_a_copy():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(10, 3)).eval()
    before = [q.detach().clone() for q in model.parameters()]
    X = torch.rand(50, 10)
    y = torch.randint(0, 3, (50,))
    robust, losses = adv.adversarial_training(model, X, y, 0.1, epochs=2, batch_size=16, progress=False)
    assert len(losses) == 2 * 4 and all(np.isfinite(losses))
    assert all(torch.equal(a, q) for a, q in zip(before, model.parameters()))
    assert not all(torch.equal(a, q) for a, q in zip(before, robust.parameters()))
    assert not robust.training


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_attacks_run_on_cuda():
    model, _, _ = linear_model(12, 3)
    model = model.cuda()
    X, y = torch.rand(4, 12), torch.tensor([0, 1, 2, 0])    # CPU inputs move to the model's device
    for attack in (adv.fgsm, adv.pgd, adv.random_sign_noise):
        assert attack(model, X, y, 0.1).device.type == "cuda"
    assert adv.accuracy_vs_eps(model, X, y, [0.0, 0.1]).shape == (2,)
