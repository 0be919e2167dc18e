"""Feature visualisation with the regularisers of Olah et al. (2017, distill "Feature Visualization").

Plain gradient ascent on pixels (:func:`course_utils.synthesis.class_visualization`) finds images the network
scores highly, but they are high-frequency patterns ("stripes"): the gradient of a conv net with respect to its
pixels is dominated by high spatial frequencies, and steepest ascent in pixel space follows it. Three families of
regularisers counter this, and :func:`visualize` combines them:

* **a better parameterisation** -- optimise the image through a map that makes low frequencies cheap:
  :class:`FourierParam` (the spectrum, scaled by 1/frequency: a *decorrelated* space in which a gradient step
  changes low frequencies as easily as high ones), :class:`LowResParam` (a coarse grid upsampled bilinearly,
  as the course's 8x8 digits are upsampled to 32x32) or :class:`PixelParam` (the pixels themselves);
* **transformation robustness** -- each step scores a randomly jittered, scaled and rotated copy
  (:func:`random_transform`), so a pattern must survive small moves to be rewarded;
* **a prior** -- an L2 penalty pulling pixels towards the (black) background and total variation
  (:func:`course_utils.synthesis.total_variation`) penalising neighbour differences.

:func:`high_frequency_share` measures the stripes: the share of an image's spectral power above a frequency.

Shapes: parameterisations produce K images (K, C, H, W) in [0, 1]; ``visualize`` optimises one image per target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PixelParam", "FourierParam", "LowResParam", "PARAMETERISATIONS", "random_transform", "visualize",
           "VisualizationSettings", "GaussianPrior", "neuron_objective", "high_frequency_share"]


class PixelParam(nn.Module):
    """The pixels themselves: image = clamp(p, 0, 1), p initialised to ``init`` plus small noise."""

    def __init__(self, k: int, c: int, h: int, w: int, init: float = 0.0, sd: float = 0.01,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = nn.Parameter(init + sd * torch.randn(k, c, h, w, generator=generator))

    def forward(self) -> torch.Tensor:
        return self.p.clamp(0, 1)

    @torch.no_grad()
    def project(self) -> None:
        """Keep the parameters in [0, 1] (so a gradient can bring a pixel back)."""
        self.p.clamp_(0, 1)


class FourierParam(nn.Module):
    """A decorrelated parameterisation: image = sigmoid(irfft2(spectrum * scale) + offset).

    ``scale`` is 1 / max(|f|, 1/max(H, W)) ** decay for the frequency |f| (cycles per pixel) of each
    coefficient, normalised so the DC term has scale 1: a unit step in any coefficient moves the image as
    much as any other, so the optimiser no longer favours the high frequencies that dominate the pixel gradient.
    ``offset`` sets the start image's brightness (-2: about 0.12, nearly black like the digits' background).
    """

    def __init__(self, k: int, c: int, h: int, w: int, decay: float = 1.0, sd: float = 0.01, offset: float = -2.0,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        fy = torch.fft.fftfreq(h)[:, None]
        fx = torch.fft.rfftfreq(w)[None, :]
        freq = torch.sqrt(fx ** 2 + fy ** 2)
        scale = 1.0 / torch.clamp(freq, min=1.0 / max(h, w)) ** decay
        self.register_buffer("scale", (scale / scale.max()) * math.sqrt(h * w))
        self.spectrum = nn.Parameter(sd * torch.randn(k, c, h, w // 2 + 1, 2, generator=generator))
        self.size, self.offset = (h, w), float(offset)

    def forward(self) -> torch.Tensor:
        spec = torch.view_as_complex(self.spectrum) * self.scale
        return torch.sigmoid(torch.fft.irfft2(spec, s=self.size, norm="ortho") + self.offset)

    def project(self) -> None:
        """Nothing to keep in range (the sigmoid does it)."""


class LowResParam(nn.Module):
    """A coarse ``low x low`` grid upsampled bilinearly: image = upsample(sigmoid(p + offset)).

    The course's digit images are 8x8 scans upsampled to 32x32 this way, so with ``low = 8`` the optimiser
    searches exactly the space the training images come from.
    """

    def __init__(self, k: int, c: int, h: int, w: int, low: int = 8, sd: float = 0.01, offset: float = -2.0,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = nn.Parameter(sd * torch.randn(k, c, low, low, generator=generator))
        self.size, self.offset = (h, w), float(offset)

    def forward(self) -> torch.Tensor:
        return F.interpolate(torch.sigmoid(self.p + self.offset), size=self.size, mode="bilinear", align_corners=False)

    def project(self) -> None:
        """Nothing to keep in range (the sigmoid does it)."""


PARAMETERISATIONS = {"pixels": PixelParam, "fourier": FourierParam, "lowres": LowResParam}


def random_transform(x: torch.Tensor, generator: torch.Generator, jitter: int = 2,
                     scale: tuple[float, float] = (1.0, 1.0), degrees: float = 0.0) -> torch.Tensor:
    """Each image randomly shifted by up to ``jitter`` px, scaled in ``scale`` and rotated by up to ``degrees``.

    - x: (K, C, H, W); differentiable (``affine_grid`` + bilinear ``grid_sample``, zeros outside: black)
    - generator: draws the K transformations (on the CPU)
    Returns (K, C, H, W).
    """
    K, _, H, W = x.shape
    u = torch.rand(K, 4, generator=generator)
    angle = (2 * u[:, 0] - 1) * math.radians(degrees)
    s = scale[0] + (scale[1] - scale[0]) * u[:, 1]
    tx = torch.round((2 * u[:, 2] - 1) * jitter) * 2 / W       # shifts in whole pixels (grid units: 2 / size)
    ty = torch.round((2 * u[:, 3] - 1) * jitter) * 2 / H
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1).to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class GaussianPrior(nn.Module):
    """A data-driven prior: the squared Mahalanobis distance of an image from a Gaussian fitted to real images.

    - images: (N, h, w) training images at the prior's resolution (the course's digits: 8x8), class labels unused,
      so the prior says "looks like *a* digit", never which one
    - shrinkage: added to the covariance's diagonal, as a share of its mean variance (keeps it invertible)

    Called on (K, 1, H, W) images (H a multiple of h) it averages each image down to h x w (area pooling) and
    returns (K,) distances divided by h w (about 1 for a typical training image).
    """

    def __init__(self, images: np.ndarray, shrinkage: float = 0.1) -> None:
        super().__init__()
        a = np.asarray(images, dtype=np.float64)
        if a.ndim != 3 or len(a) < 2:
            raise ValueError(f"images must have shape (N, h, w) with N >= 2, got {a.shape}")
        flat = a.reshape(len(a), -1)
        mu = flat.mean(0)
        cov = np.cov(flat, rowvar=False)
        cov += shrinkage * np.trace(cov) / len(cov) * np.eye(len(cov))
        self.shape = a.shape[1:]
        self.register_buffer("mean", torch.as_tensor(mu, dtype=torch.float32))
        self.register_buffer("precision", torch.as_tensor(np.linalg.inv(cov), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.shape
        if x.shape[2] % h or x.shape[3] % w:
            raise ValueError(f"image size {tuple(x.shape[2:])} is not a multiple of the prior's {self.shape}")
        z = F.avg_pool2d(x, (x.shape[2] // h, x.shape[3] // w)).flatten(1) - self.mean
        return ((z @ self.precision) * z).sum(1) / (h * w)


@dataclass(frozen=True)
class VisualizationSettings:
    """What :func:`visualize` does; the defaults are the lecture's regularised recipe (measured on the course's
    digits CNN: with a :class:`GaussianPrior` of the training digits, 10 of 10 class images read as their digit by
    a logistic regression on the 8x8 pixels, for each of the seeds 0-3).

    - param: ``"pixels"``, ``"fourier"`` or ``"lowres"`` (see :data:`PARAMETERISATIONS`)
    - steps, lr: Adam steps on the parameters and their learning rate
    - jitter, scale, degrees: transformation robustness (:func:`random_transform`); 0, (1, 1), 0 turn it off
    - l2: weight of mean(x^2) (pulls pixels to the black background)
    - tv: weight of total variation (:func:`course_utils.synthesis.total_variation`)
    - low: grid side of ``"lowres"``; decay: spectrum decay of ``"fourier"``
    - score: ``"logit"`` (the class score S_c, as Simonyan) or ``"logprob"`` (log softmax: S_c minus the
      log-sum-exp of all scores, so what every class shares is not rewarded)
    - prior: weight of the ``prior`` passed to :func:`visualize` (e.g. a :class:`GaussianPrior`); unused without one
    """
    param: str = "lowres"
    steps: int = 300
    lr: float = 0.1
    jitter: int = 2
    scale: tuple[float, float] = (0.9, 1.1)
    degrees: float = 10.0
    l2: float = 0.0
    tv: float = 0.1
    low: int = 8
    decay: float = 1.0
    score: str = "logprob"
    prior: float = 10.0


def visualize(model: nn.Module, targets: Sequence[int], size: int = 32,
              settings: VisualizationSettings = VisualizationSettings(), seed: int = 0,
              objective=None, prior: nn.Module | None = None) -> tuple[torch.Tensor, list[float]]:
    """One image per target that the model scores highly, regularised as ``settings`` says.

    Maximises, for each image k, ``objective(model, T(x_k))[k] - l2 mean(x_k^2) - tv TV(x_k)`` with Adam, where
    T is a fresh random transformation each step and x_k comes from the parameterisation.

    - model: maps (K, 1, size, size) to scores (K, classes)
    - targets: K class indices
    - objective: optional ``f(model, images) -> (K,)`` to maximise instead of the target scores
      (e.g. a unit inside the network)
    - prior: optional ``f(images) -> (K,)`` penalty, weighted by ``settings.prior``
    Returns ``(images (K, 1, size, size) in [0, 1], mean objective per step)``. Deterministic in ``seed``.
    """
    if settings.score not in ("logit", "logprob"):
        raise ValueError(f"score must be 'logit' or 'logprob', got {settings.score!r}")
    if settings.param not in PARAMETERISATIONS:
        raise ValueError(f"param must be one of {sorted(PARAMETERISATIONS)}, got {settings.param!r}")
    from .synthesis import total_variation
    dev = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    K = len(targets)
    extra = {"low": settings.low} if settings.param == "lowres" else {"decay": settings.decay} \
        if settings.param == "fourier" else {}
    param = PARAMETERISATIONS[settings.param](K, 1, size, size, generator=gen, **extra).to(dev)
    opt = torch.optim.Adam(param.parameters(), lr=settings.lr)
    idx = torch.as_tensor(list(targets), dtype=torch.long, device=dev)
    model.eval()
    history = []
    for _ in range(settings.steps):
        x = param()
        xt = random_transform(x, gen, settings.jitter, settings.scale, settings.degrees)
        with torch.enable_grad():
            if objective is not None:
                score = objective(model, xt)
            else:
                out = model(xt)
                out = out.log_softmax(1) if settings.score == "logprob" else out
                score = out.gather(1, idx[:, None])[:, 0]
            penalty = settings.l2 * (x ** 2).flatten(1).mean(1) + settings.tv * torch.stack(
                [total_variation(x[k:k + 1]) for k in range(K)])
            if prior is not None and settings.prior:
                penalty = penalty + settings.prior * prior(x)
            loss = -(score - penalty).sum()
            opt.zero_grad()
            loss.backward()
        opt.step()
        param.project()
        history.append(float(score.detach().mean()))
    with torch.no_grad():
        return param().detach(), history


def neuron_objective(neurons: Sequence) -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
    """An ``objective`` for :func:`visualize`: image k maximises the unit ``neurons[k]``.

    - neurons: K :class:`course_utils.attribution.Neuron` (any layers; without row/col a channel's strongest
      position counts)
    Returns ``f(model, images (K, C, H, W)) -> (K,)``.
    """
    from .attribution import get_layer
    neurons = list(neurons)

    def objective(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if len(x) != len(neurons):
            raise ValueError(f"{len(neurons)} neurons for {len(x)} images")
        store: dict[str, torch.Tensor] = {}
        handles = [get_layer(model, name).register_forward_hook(lambda m, i, o, name=name: store.__setitem__(name, o))
                   for name in {n.layer for n in neurons}]
        try:
            model(x)
        finally:
            for h in handles:
                h.remove()
        return torch.stack([n.select(store[n.layer][k:k + 1])[0] for k, n in enumerate(neurons)])
    return objective


def high_frequency_share(images: torch.Tensor | np.ndarray, cutoff: float = 0.25) -> np.ndarray:
    """Share of each image's spectral power (mean removed) at frequencies above ``cutoff`` cycles per pixel.

    - images: (N, H, W) or (N, 1, H, W); 0.5 cycles/pixel is the finest pattern (alternate pixels)
    Returns (N,) values in [0, 1]. A smooth digit puts little power above 1/4 cycle per pixel; stripes a lot.
    """
    a = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, dtype=float)
    if a.ndim == 4:
        a = a[:, 0]
    if a.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W) or (N, 1, H, W), got {a.shape}")
    a = a - a.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(a)) ** 2
    fy = np.fft.fftfreq(a.shape[1])[:, None]
    fx = np.fft.fftfreq(a.shape[2])[None, :]
    high = np.sqrt(fx ** 2 + fy ** 2) > cutoff
    total = power.sum(axis=(1, 2))
    return np.where(total > 0, (power * high).sum(axis=(1, 2)) / np.maximum(total, 1e-30), 0.0)
