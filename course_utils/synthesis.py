"""Optimisation to image: make the network tell us what it responds to.

Each method runs gradient steps on the *pixels* of an image with the network's weights fixed.

* :func:`class_visualization` -- Simonyan et al. (2014): :math:`\\arg\\max_I S_c(I) - \\lambda \\lVert I \\rVert_2^2`,
  from a black image, with jitter (random shifts) and occasional blur as extra regularisers (Yosinski et al. 2015).
  One step of it is :func:`class_visualization_step`.
* :func:`invert_features` -- Mahendran & Vedaldi (2015): find :math:`x` whose code at a layer matches a given
  code, :math:`\\min_x \\lVert \\Phi(x) - \\Phi_0 \\rVert^2 / \\lVert \\Phi_0 \\rVert^2 + \\lambda_{TV} \\mathrm{TV}(x)`.
* :func:`deep_dream` -- Mordvintsev et al. (2015): set the gradient at a layer to the activation itself
  (:math:`dx = x`, i.e. ascend :math:`\\tfrac12 \\lVert a \\rVert^2`), with jitter and a step normalised by the
  mean absolute gradient.
* :func:`gram_matrix`, :func:`style_loss`, :func:`synthesize` -- Gatys et al. (2015): textures are matched by the
  Gram matrices :math:`G_{ij} = \\frac{1}{HW}\\sum_p F_{ip} F_{jp}` of feature maps; style transfer adds a
  content term. Features come from the course CNN (:func:`cnn_features`) or from
  :class:`RandomFilterFeatures`, one layer of random multi-scale filters, which Ustyuzhaninov et al. (2016)
  showed is enough to synthesise convincing textures.

Images are tensors (1, C, H, W) in [0, 1] (the course CNN takes C = 1 and H, W multiples of 8).
Every function takes ``progress`` (a tqdm bar) and returns the image plus a history of its objective.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["gaussian_blur", "jitter", "class_visualization_step", "class_visualization", "invert_features",
           "total_variation", "deep_dream", "gram_matrix", "style_loss", "RandomFilterFeatures", "cnn_features",
           "synthesize", "load_photo"]

Features = Callable[[torch.Tensor], list[torch.Tensor]]


def _bar(n: int, desc: str, progress: bool):
    from tqdm.auto import tqdm
    return tqdm(range(n), desc=desc, leave=True, disable=not progress)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) images (reflect padding), kernel radius 3 sigma."""
    if sigma <= 0:
        return x
    radius = max(1, int(np.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    C = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).repeat(C, 1, 1, 1), groups=C)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1).repeat(C, 1, 1, 1), groups=C)


def jitter(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Shift images by (dy, dx) pixels with wrap-around (``np.roll``, as DeepDream does); undo with (-dy, -dx)."""
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def _score(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    from .attribution import Neuron, layer_output
    if isinstance(target, Neuron):
        with layer_output(model, target.layer) as store:
            model(x)
        return target.select(store["out"]).sum()
    return model(x)[:, int(target)].sum()


def class_visualization_step(model: nn.Module, img: torch.Tensor, target, lr: float = 0.5,
                             l2: float = 1e-3) -> tuple[torch.Tensor, float]:
    """One regularised gradient-ascent step on :math:`S_c(I) - \\lambda \\lVert I \\rVert^2`.

    :math:`g = \\nabla_I S_c(I) - 2 \\lambda I`, then :math:`I \\leftarrow I + \\mathrm{lr} \\cdot g / \\lVert g \\rVert_2`
    (the step normalised by the gradient's norm, as in cs231n). ``target`` is a class index or a
    :class:`~course_utils.attribution.Neuron`. Returns ``(new image, objective before the step)``.
    """
    img = img.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        objective = _score(model, img, target) - l2 * (img ** 2).sum()
        (g,) = torch.autograd.grad(objective, img)
    return (img + lr * g / g.norm().clamp_min(1e-12)).detach(), float(objective.detach())


def class_visualization(model: nn.Module, target, size: int = 32, steps: int = 200, lr: float = 0.5,
                        l2: float = 1e-3, max_jitter: int = 2, blur_every: int = 10, blur_sigma: float = 0.5,
                        seed: int = 0, progress: bool = True) -> tuple[torch.Tensor, list[float]]:
    """An image that the model scores highly as ``target``, starting from black (zeros).

    Each step: random jitter of up to ``max_jitter`` px, :func:`class_visualization_step`, un-jitter, clip
    to [0, 1]; every ``blur_every`` steps a Gaussian blur of ``blur_sigma`` px. Returns
    ``(image (1, 1, size, size), objective per step)``.
    """
    dev = next(model.parameters()).device
    gen = np.random.default_rng(seed)
    img = torch.zeros(1, 1, size, size, device=dev)
    history = []
    for t in _bar(steps, f"visualising {target}", progress):
        dy, dx = (int(v) for v in gen.integers(-max_jitter, max_jitter + 1, 2))
        img, obj = class_visualization_step(model, jitter(img, dy, dx), target, lr=lr, l2=l2)
        img = jitter(img, -dy, -dx).clamp(0, 1)
        if blur_every and (t + 1) % blur_every == 0 and t + 1 < steps:
            img = gaussian_blur(img, blur_sigma)
        history.append(obj)
    return img, history


def total_variation(x: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """:math:`\\sum ((x_{i+1,j}-x_{ij})^2 + (x_{i,j+1}-x_{ij})^2)^{\\beta/2}` averaged over pixels."""
    dh = x[:, :, 1:, :-1] - x[:, :, :-1, :-1]
    dw = x[:, :, :-1, 1:] - x[:, :, :-1, :-1]
    return ((dh ** 2 + dw ** 2 + 1e-8) ** (beta / 2)).mean()


def _code(model: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    from .attribution import layer_output
    if layer == "scores":
        return model(x)
    with layer_output(model, layer) as store:
        model(x)
    return store["out"]


def invert_features(model: nn.Module, x: torch.Tensor, layer: str, steps: int = 300, lr: float = 0.05,
                    tv: float = 1e-2, seed: int = 0, progress: bool = True) -> tuple[torch.Tensor, list[float]]:
    """Reconstruct an image from its code at ``layer`` (a layer name or ``"scores"``).

    Minimises :math:`\\lVert \\Phi(\\hat x) - \\Phi(x) \\rVert^2 / \\lVert \\Phi(x) \\rVert^2 + \\mathrm{tv} \\cdot TV(\\hat x)`
    over :math:`\\hat x \\in [0, 1]` with Adam, from uniform noise around 0.5. Returns
    ``(x_hat (1, C, H, W), relative code error per step)``; the last entry is the final code error.
    """
    if x.dim() != 4 or len(x) != 1:
        raise ValueError(f"x must be one image of shape (1, C, H, W), got {tuple(x.shape)}")
    torch.manual_seed(seed)
    with torch.no_grad():
        target = _code(model, x, layer)
    norm = (target ** 2).sum().clamp_min(1e-12)
    x_hat = (0.5 + 0.1 * torch.randn(x.shape, device=x.device)).clamp(0, 1).requires_grad_(True)
    opt = torch.optim.Adam([x_hat], lr=lr)
    history = []
    for _ in _bar(steps, f"inverting {layer}", progress):
        err = ((_code(model, x_hat, layer) - target) ** 2).sum() / norm
        loss = err + tv * total_variation(x_hat)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            x_hat.clamp_(0, 1)
        history.append(err.item())
    with torch.no_grad():
        history.append(float(((_code(model, x_hat, layer) - target) ** 2).sum() / norm))
    return x_hat.detach(), history


def deep_dream(model: nn.Module, image: torch.Tensor, layer: str, steps: int = 40, step_size: float = 0.01,
               max_jitter: int = 4, seed: int = 0, progress: bool = True) -> tuple[torch.Tensor, list[float]]:
    """Amplify whatever ``layer`` sees in ``image``: gradient ascent on :math:`\\tfrac12 \\lVert a_{layer} \\rVert^2`.

    The gradient at the layer is the activation itself (dx = x); the step is normalised by the mean
    absolute image gradient, :math:`I \\leftarrow I + \\mathrm{step} \\cdot g / \\overline{|g|}`, applied to a
    randomly rolled copy (jitter) and clipped to [0, 1]. Returns ``(image, mean squared activation per step)``.
    """
    gen = np.random.default_rng(seed)
    img = image.detach().clone()
    history = []
    for _ in _bar(steps, f"dreaming at {layer}", progress):
        dy, dx = (int(v) for v in gen.integers(-max_jitter, max_jitter + 1, 2))
        x = jitter(img, dy, dx).requires_grad_(True)
        with torch.enable_grad():
            a = _code(model, x, layer)
            (0.5 * (a ** 2).sum()).backward()          # d(objective)/da = a: "set dx = x"
        g = x.grad
        x = (x + step_size * g / g.abs().mean().clamp_min(1e-12)).detach()
        img = jitter(x, -dy, -dx).clamp(0, 1)
        history.append(float((a.detach() ** 2).mean()))
    return img, history


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """:math:`G = F F^\\top / (HW)` for feature maps (N, C, H, W) -> (N, C, C)."""
    if features.dim() != 4:
        raise ValueError(f"features must have shape (N, C, H, W), got {tuple(features.shape)}")
    N, C, H, W = features.shape
    Fm = features.reshape(N, C, H * W)
    return Fm @ Fm.transpose(1, 2) / (H * W)


def style_loss(features: Sequence[torch.Tensor], target_grams: Sequence[torch.Tensor],
               weights: Sequence[float] | None = None) -> torch.Tensor:
    """:math:`\\sum_l w_l \\lVert G(F_l) - A_l \\rVert_F^2 / \\lVert A_l \\rVert_F^2` (each layer normalised)."""
    if len(features) != len(target_grams):
        raise ValueError(f"{len(features)} feature maps but {len(target_grams)} target Gram matrices")
    weights = [1.0] * len(features) if weights is None else list(weights)
    total = 0.0
    for w, f, A in zip(weights, features, target_grams):
        total = total + w * ((gram_matrix(f) - A) ** 2).sum() / (A ** 2).sum().clamp_min(1e-12)
    return total


class RandomFilterFeatures(nn.Module):
    """One convolutional layer of random filters at several scales, each followed by a ReLU.

    - in_channels: 1 (grey) or 3 (colour)
    - sizes: filter sizes (odd), one bank per size
    - n_filters: filters per bank
    The input is centred (0.5 subtracted); filters are uniform in [-1, 1] with zero mean, scaled by
    1/sqrt(fan-in). ``forward`` returns the list of feature maps (1, n_filters, H', W') ('valid' convolutions).
    """

    def __init__(self, in_channels: int = 1, sizes: Sequence[int] = (3, 5, 7, 11, 15), n_filters: int = 32,
                 seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.sizes = tuple(int(s) for s in sizes)
        for s in self.sizes:
            w = torch.rand(n_filters, in_channels, s, s, generator=gen) * 2 - 1
            w = (w - w.mean(dim=(1, 2, 3), keepdim=True)) / np.sqrt(in_channels * s * s)
            self.register_buffer(f"w{s}", w)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = x - 0.5
        return [F.relu(F.conv2d(x, getattr(self, f"w{s}"))) for s in self.sizes]


def cnn_features(model: nn.Module, layers: Sequence[str] = ("relu1", "relu2", "relu3")) -> Features:
    """The course CNN's activations at ``layers`` as a feature function x (1, 1, H, W) -> list of maps."""
    from .attribution import get_layer

    def features(x: torch.Tensor) -> list[torch.Tensor]:
        store: dict[str, torch.Tensor] = {}
        handles = [get_layer(model, name).register_forward_hook(
            lambda m, i, o, name=name: store.__setitem__(name, o)) for name in layers]
        try:
            model.feature_grid(x) if hasattr(model, "feature_grid") else model(x)
        finally:
            for h in handles:
                h.remove()
        return [store[name] for name in layers]
    return features


def synthesize(features: Features, style: torch.Tensor, size: tuple[int, int] | None = None,
               content: torch.Tensor | None = None, content_index: int = 0, content_weight: float = 1.0,
               style_weights: Sequence[float] | None = None, steps: int = 200, lr: float = 0.05, seed: int = 0,
               progress: bool = True) -> tuple[torch.Tensor, list[float]]:
    """Gatys et al.: texture synthesis (``content=None``) or style transfer.

    Minimises ``style_loss(features(x), grams(style))`` (+ ``content_weight`` times the relative squared
    error of feature map ``content_index`` against the content image's) over x in [0, 1] with Adam. Texture
    synthesis starts from noise of shape ``size``; style transfer starts from the content image.
    Returns ``(image (1, C, H, W), total loss per step)``.
    """
    torch.manual_seed(seed)
    with torch.no_grad():
        A = [gram_matrix(f) for f in features(style)]
        P = features(content)[content_index] if content is not None else None
    if content is not None:
        x = content.detach().clone()
    else:
        H, W = size if size is not None else style.shape[-2:]
        x = (0.5 + 0.1 * torch.randn(1, style.shape[1], H, W, device=style.device)).clamp(0, 1)
    x.requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    history = []
    for _ in _bar(steps, "synthesising" if content is None else "style transfer", progress):
        feats = features(x)
        loss = style_loss(feats, A, style_weights)
        if P is not None:
            loss = loss + content_weight * ((feats[content_index] - P) ** 2).sum() / (P ** 2).sum().clamp_min(1e-12)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
        history.append(float(loss.detach()))
    return x.detach(), history


def load_photo(name: str, size: int | tuple[int, int] = 64, grey: bool = True, crop: tuple[int, int, int, int] | None = None
               ) -> torch.Tensor:
    """A photograph bundled with scikit-image (``skimage.data.<name>``, no download) as (1, C, h, w) in [0, 1].

    - crop: ``(top, left, bottom, right)`` in the original's pixels, applied before resizing
    - size: output side (square) or ``(h, w)``
    - grey: luminance only (C = 1), else C = 3 (grey photos are repeated)
    """
    import skimage.data
    from skimage.color import gray2rgb, rgb2gray
    from skimage.transform import resize
    loader = getattr(skimage.data, name, None)
    if loader is None or not callable(loader):
        raise ValueError(f"skimage.data has no image {name!r}")
    img = loader()
    if crop is not None:
        t, l, b, r = crop
        img = img[t:b, l:r]
    img = img.astype(np.float64)
    img = img / 255.0 if img.max() > 1 else img
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    img = (rgb2gray(img) if img.ndim == 3 else img) if grey else (img if img.ndim == 3 else gray2rgb(img))
    shape = (size, size) if isinstance(size, int) else tuple(size)
    img = resize(img, shape, anti_aliasing=True)
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))
    return t[None, None] if grey else t.permute(2, 0, 1)[None]
