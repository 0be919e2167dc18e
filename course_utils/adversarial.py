"""Adversarial examples (unit 2): fooling linear classifiers and the course CNN.

Two halves:

* **Linear models in NumPy** -- the slides' binary logistic toy (:func:`linear_attack`), the smallest
  L-infinity budget that flips a linear decision (:func:`min_flip_eps`), the per-dimension budget a
  fixed score change needs (:func:`eps_for_score_change`) and "mixing in" a class template
  (:func:`mix_template`).
* **Attacks on PyTorch models**, all with one shape ``attack(model, x, y, eps, **options) -> x_adv``:
  :func:`fgsm`, :func:`pgd` and the control :func:`random_sign_noise`. ``x`` is a batch (N, ...) of inputs
  in the pixel range ``clip`` (default [0, 1]), ``y`` (N,) integer labels (the *true* labels, or the
  *targets* when ``targeted=True``), ``eps`` the L-infinity budget: every pixel moves by at most eps.
  Results are detached tensors on the model's device, inside the pixel range. Plus
  :func:`accuracy_vs_eps`, :func:`fooling_images` (Nguyen et al.) and :func:`adversarial_training`.

Every model is used as it is (call ``model.eval()`` first for batch-norm models); its parameters'
gradients are never touched by an attack.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["linear_attack", "min_flip_eps", "eps_for_score_change", "mix_template",
           "input_gradient", "fgsm", "pgd", "project_linf", "random_sign_noise", "accuracy_vs_eps",
           "fooling_images", "adversarial_training", "Attack"]

Clip = tuple[float, float] | None
Attack = Callable[..., torch.Tensor]


# ------------------------------------------------------------------ linear models (NumPy)

def linear_attack(x: np.ndarray, w: np.ndarray, eps: float, *, toward: int = 1) -> np.ndarray:
    """The best L-infinity nudge against a linear score ``w.x + b``: ``x + eps * sign(w)`` (toward class 1).

    - x, w: (D,) input and weights (or x (N, D) with one w (D,))
    - eps: per-dimension budget, >= 0
    - toward: 1 raises the score (pushes toward class 1), 0 lowers it
    The score changes by exactly ``+- eps * ||w||_1``, the most any perturbation with
    ``max |delta_i| <= eps`` can achieve.
    """
    _check_eps(eps)
    if toward not in (0, 1):
        raise ValueError(f"toward must be 0 or 1, got {toward!r}")
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    if x.shape[-1] != w.shape[-1]:
        raise ValueError(f"x has {x.shape[-1]} dimensions but w has {w.shape[-1]}")
    return x + (1 if toward == 1 else -1) * eps * np.sign(w)


def min_flip_eps(x: np.ndarray, w: np.ndarray, b: float) -> np.ndarray | float:
    """The smallest L-infinity budget that flips the decision of a linear classifier ``sign(w.x + b)``.

    Moving every coordinate by eps against the current decision changes the score by eps * ||w||_1, so
    ``eps* = |w.x + b| / ||w||_1`` (the score is exactly 0 there). x (D,) or (N, D); w (D,); returns a
    float or (N,) array.
    """
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    l1 = np.abs(w).sum()
    if l1 == 0:
        raise ValueError("w is all zeros: no budget changes the score")
    eps = np.abs(x @ w + b) / l1
    return float(eps) if np.ndim(eps) == 0 else eps


def eps_for_score_change(delta: float, dims: int | np.ndarray, weight_scale: float = 1.0) -> np.ndarray | float:
    """Per-dimension budget needed to move a linear score by ``delta`` when ``|w_i| = weight_scale``.

    ``delta = eps * ||w||_1 = eps * weight_scale * D``, so ``eps = delta / (weight_scale * D)``: for a fixed
    score change the nudge each dimension needs shrinks like 1/D.
    """
    d = np.asarray(dims, dtype=np.float64)
    if np.any(d < 1):
        raise ValueError("dims must be >= 1")
    eps = delta / (weight_scale * d)
    return float(eps) if eps.ndim == 0 else eps


def mix_template(x: np.ndarray, W: np.ndarray, b: np.ndarray, target: int, *, confidence: float = 0.99,
                 clip: Clip = (0.0, 1.0), max_alpha: float = 1.0, tol: float = 1e-4,
                 direction: str = "template") -> tuple[np.ndarray, float, float]:
    """Add ``alpha * t`` to ``x`` for the smallest alpha at which a softmax classifier ``softmax(x W + b)``
    gives ``target`` at least ``confidence`` (Karpathy's "mix in a bit of the goldfish weights").

    - direction ``"template"``: ``t = W[:, target] / max|W[:, target]|``, the target's template scaled to a
      largest entry of 1; ``"sign"``: ``t = sign(W[:, target])``, the L-infinity-optimal direction for the
      target's score
    Inputs: x (D,) an image; W (D, C); b (C,). Bisection on alpha in [0, max_alpha] (to ``tol``); the
    result is clipped to ``clip``. Returns ``(x_adv (D,), alpha, p_target)``; alpha is ``nan`` when even
    ``max_alpha`` does not reach ``confidence`` (x_adv is then the ``max_alpha`` image).
    Since max|t| = 1, alpha is also the L-infinity size of the change before clipping.
    """
    from .linear import softmax
    x, W, b = (np.asarray(a, dtype=np.float64) for a in (x, W, b))
    if x.ndim != 1 or W.ndim != 2 or x.shape[0] != W.shape[0] or b.shape != (W.shape[1],):
        raise ValueError(f"need x (D,), W (D, C), b (C,); got {x.shape}, {W.shape}, {b.shape}")
    if not 0 <= target < W.shape[1]:
        raise ValueError(f"target must be a class in 0..{W.shape[1] - 1}, got {target}")
    if direction == "template":
        t = W[:, target] / np.abs(W[:, target]).max()
    elif direction == "sign":
        t = np.sign(W[:, target])
    else:
        raise ValueError(f"direction must be 'template' or 'sign', got {direction!r}")

    def mixed(alpha: float) -> tuple[np.ndarray, float]:
        z = x + alpha * t
        if clip is not None:
            z = np.clip(z, *clip)
        return z, float(softmax(z @ W + b)[target])

    z, p = mixed(max_alpha)
    if p < confidence:
        return z, float("nan"), p
    lo, hi = 0.0, max_alpha
    if mixed(0.0)[1] >= confidence:
        hi = 0.0
    while hi - lo > tol:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if mixed(mid)[1] >= confidence else (mid, hi)
    z, p = mixed(hi)
    return z, hi, p


# ------------------------------------------------------------------ attacks on PyTorch models

def _check_eps(eps: float) -> None:
    if not isinstance(eps, (int, float, np.floating, np.integer)) or isinstance(eps, bool) or not np.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")


def _prepare(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of inputs (N, ...), got {type(x).__name__}")
    dev = next(model.parameters()).device
    x = x.detach().to(dev, torch.float32)
    if y is not None:
        y = torch.as_tensor(y).to(dev)
        if y.dim() != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"y must be a vector of {x.shape[0]} labels, got shape {tuple(y.shape)}")
        if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
        y = y.long()
    return x, y


def _clip(x: torch.Tensor, clip: Clip) -> torch.Tensor:
    return x if clip is None else x.clamp(clip[0], clip[1])


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of the summed cross-entropy ``sum_n -log p(y_n | x_n)`` with respect to the inputs.

    x (N, ...) on any device, y (N,) labels -> (N, ...) on the model's device. Summing (not averaging)
    keeps each example's gradient independent of the batch size. The model's parameter gradients
    are left untouched.
    """
    x, y = _prepare(model, x, y)
    with torch.enable_grad():                 # also inside a caller's torch.no_grad()
        x = x.clone().requires_grad_(True)
        loss = F.cross_entropy(model(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, targeted: bool = False,
         clip: Clip = (0.0, 1.0)) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): one step of size eps along sign(grad_x J).

    - untargeted (y = true labels): ``x + eps * sign(grad_x J(x, y))`` -- raise the loss of the true class
    - targeted (y = target labels): ``x - eps * sign(grad_x J(x, y))`` -- lower the loss of the target
    Then clipped to the pixel range ``clip`` (``None``: no clipping). x (N, ...) -> x_adv (N, ...),
    ``max |x_adv - x| <= eps``.
    """
    _check_eps(eps)
    x, y = _prepare(model, x, y)
    step = eps * input_gradient(model, x, y).sign()
    return _clip(x - step if targeted else x + step, clip).detach()


def project_linf(x_adv: torch.Tensor, x: torch.Tensor, eps: float, clip: Clip = (0.0, 1.0)) -> torch.Tensor:
    """Project onto the L-infinity ball of radius eps around x, then into the pixel range: (N, ...) -> (N, ...)."""
    _check_eps(eps)
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv {tuple(x_adv.shape)} and x {tuple(x.shape)} differ in shape")
    return _clip(torch.max(torch.min(x_adv, x + eps), x - eps), clip)


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, alpha: float | None = None,
        steps: int = 10, targeted: bool = False, clip: Clip = (0.0, 1.0), random_start: bool = False,
        seed: int = 0) -> torch.Tensor:
    """Projected gradient descent in the L-infinity ball (iterative FGSM; Kurakin et al., Madry et al.).

    ``steps`` times: an FGSM step of size ``alpha`` (default ``2.5 * eps / steps``) from the current point,
    then :func:`project_linf` back into ``|x_adv - x| <= eps`` and the pixel range. ``random_start``
    begins at a uniform random point of the ball (seeded). Untargeted or targeted as :func:`fgsm`.
    x (N, ...) -> x_adv (N, ...).
    """
    _check_eps(eps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    alpha = 2.5 * eps / steps if alpha is None else alpha
    _check_eps(alpha)
    x, y = _prepare(model, x, y)
    x_adv = x.clone()
    if random_start:
        gen = torch.Generator().manual_seed(seed)
        x_adv = _clip(x + eps * (2 * torch.rand(x.shape, generator=gen) - 1).to(x.device), clip)
    for _ in range(steps):
        x_adv = fgsm(model, x_adv, y, alpha, targeted=targeted, clip=None)
        x_adv = project_linf(x_adv, x, eps, clip)
    return x_adv.detach()


def random_sign_noise(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, eps: float, *,
                      clip: Clip = (0.0, 1.0), seed: int = 0) -> torch.Tensor:
    """The control for FGSM: ``x + eps * s`` with random signs s = +-1 (seeded), clipped.

    Same shape as an attack (``model`` gives the device; ``y`` is ignored) and the same L-infinity and
    L2 size as an FGSM step of size eps, but in a random direction. x (N, ...) -> (N, ...).
    """
    _check_eps(eps)
    x, _ = _prepare(model, x, None)
    gen = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, x.shape, generator=gen).float().mul_(2).sub_(1).to(x.device)
    return _clip(x + eps * signs, clip)


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x).argmax(1)


def accuracy_vs_eps(model: nn.Module, X: torch.Tensor, y: torch.Tensor, eps_values: Sequence[float],
                    attack: Attack = fgsm, *, batch_size: int = 512, **attack_kwargs) -> np.ndarray:
    """Accuracy of ``model`` on ``attack(model, X, y, eps, **attack_kwargs)`` for each eps.

    X (N, ...) and y (N,) may live on the CPU; batches move to the model's device. Returns an array
    of len(eps_values) accuracies in [0, 1] (eps = 0 gives the clean accuracy for every attack here).
    """
    dev = next(model.parameters()).device
    y = torch.as_tensor(y)
    out = []
    for eps in eps_values:
        correct = 0
        for i in range(0, len(X), batch_size):
            xb, yb = X[i:i + batch_size], y[i:i + batch_size].to(dev)
            x_adv = attack(model, xb, yb, float(eps), **attack_kwargs)
            correct += int((_predict(model, x_adv) == yb).sum())
        out.append(correct / len(X))
    return np.array(out)


def fooling_images(model: nn.Module, classes: Sequence[int], shape: tuple[int, ...], *, confidence: float = 0.996,
                   steps: int = 300, lr: float = 0.05, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Images the model assigns to each class with at least ``confidence``, grown from uniform noise.

    Gradient ascent (Adam, step ``lr``) on ``log p(c | x)`` for one image per class in ``classes``, the
    pixels kept in [0, 1] by clamping after each step; it stops as soon as every image reaches
    ``confidence`` (Nguyen et al. 2015 report >= 99.6%) or after ``steps`` steps.
    Returns ``(images (K, *shape) on the CPU, probabilities of their classes (K,), steps taken)``.
    """
    dev = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand((len(classes), *shape), generator=gen).to(dev).requires_grad_(True)
    target = torch.as_tensor(list(classes), device=dev)
    opt = torch.optim.Adam([x], lr=lr)
    taken = 0
    for taken in range(1, steps + 1):
        logp = F.log_softmax(model(x), dim=1)[torch.arange(len(target)), target]
        if bool((logp.exp() >= confidence).all()):
            taken -= 1
            break
        opt.zero_grad()
        (-logp.sum()).backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
    with torch.no_grad():
        p = F.softmax(model(x), dim=1)[torch.arange(len(target)), target]
    model.zero_grad(set_to_none=True)
    return x.detach().cpu(), p.cpu(), taken


def adversarial_training(model: nn.Module, X: torch.Tensor, y: torch.Tensor, eps: float, *, epochs: int = 3,
                         batch_size: int = 32, lr: float = 1e-3, seed: int = 0,
                         progress: bool = True) -> tuple[nn.Module, list[float]]:
    """Fine-tune a *copy* of ``model`` on FGSM examples (Goodfellow et al.: the loss on clean and adversarial
    inputs, half and half).

    Each minibatch: FGSM examples of size ``eps`` are made with the model in eval mode (the current weights),
    then one Adam step on ``0.5 * J(x, y) + 0.5 * J(x_adv, y)``. X (N, ...) and y (N,) on any device.
    Returns ``(the trained copy in eval mode, the loss of every step)``; ``model`` itself is unchanged.
    """
    from .training import fit
    _check_eps(eps)
    torch.manual_seed(seed)
    robust = copy.deepcopy(model)
    dev = next(robust.parameters()).device
    opt = torch.optim.Adam(robust.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    y = torch.as_tensor(y)
    steps_per_epoch = (len(X) + batch_size - 1) // batch_size
    order = torch.randperm(len(X), generator=gen)

    def step(i: int) -> float:
        nonlocal order
        j = i % steps_per_epoch
        if j == 0 and i > 0:
            order = torch.randperm(len(X), generator=gen)
        idx = order[j * batch_size:(j + 1) * batch_size]
        xb, yb = X[idx].to(dev), y[idx].to(dev)
        robust.eval()
        x_adv = fgsm(robust, xb, yb, eps)
        robust.train()
        loss = 0.5 * F.cross_entropy(robust(xb), yb) + 0.5 * F.cross_entropy(robust(x_adv), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    n = epochs * steps_per_epoch
    if progress:
        losses = fit(step, n, desc="FGSM adversarial training", live_plot=False).loss
    else:
        losses = [step(i) for i in range(n)]
    return robust.eval(), losses
