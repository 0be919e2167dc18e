"""Attribution maps for a CNN: which input pixels does a score (or any neuron) depend on?

One object per method, one verb, in the spirit of Captum's ``captum.attr`` package::

    Saliency(model).attribute(x, target)           # |dS/dx|              (Simonyan et al., 2014)
    Deconvnet(model).attribute(x, target)          # ReLU passes positive gradient only (Zeiler & Fergus, 2014)
    GuidedBackprop(model).attribute(x, target)     # both masks          (Springenberg et al., 2015)
    Occlusion(model, patch=8, stride=4).attribute(x, target)   # score drop under a patch (black by default)
    SmoothGrad(model, stdev=0.15, n_samples=32).attribute(x, target)   # mean map over noisy copies (Smilkov et al., 2017)
    IntegratedGradients(model, steps=32).attribute(x, target)  # (x - x0) * mean gradient on the path (Sundararajan et al., 2017)
    GradCAM(model, layer="relu3").attribute(x, target)         # ReLU(sum_k alpha_k A_k), upsampled (Selvaraju et al., 2017)
    RandomBaseline(seed=0).attribute(x, target)    # uniform noise: the chance level of any metric

Shapes: ``x`` is (N, C, H, W); every ``attribute`` returns a tensor of the same shape (like Captum);
:func:`to_heatmap` turns it into the (N, H, W) map that is drawn (Simonyan: max over channels of |.|).

``target`` is what is explained:

* an ``int`` -- the same output score for every image (a class logit, before softmax);
* a sequence or 1-D tensor of N ints -- one output score per image;
* a :class:`Neuron` -- any unit along the way: ``Neuron("relu2", channel=5, row=3, col=4)``. Without
  ``row``/``col`` the channel's strongest position in each image is used (Zeiler & Fergus project the
  strongest activation of a feature map).

The three single-backward-pass methods differ only in how a ReLU passes the gradient back. With
forward input :math:`f` and upstream gradient :math:`R` (:func:`relu_backward` in NumPy):

* backprop (saliency): :math:`(f > 0) \\cdot R`
* deconvnet:           :math:`(R > 0) \\cdot R`
* guided backprop:     :math:`(f > 0) \\cdot (R > 0) \\cdot R`

The rule is installed with forward hooks on every ``nn.ReLU`` module of the model for the duration of one
call (so ReLUs must be modules, as in :class:`course_utils.cnn.DigitCNN`; functional ``F.relu`` calls are
not seen). Models should be in ``eval()`` mode (batch-norm statistics then do not mix the images).

Conventions compared with Captum 0.7+ (``tests/test_attribution.py`` checks equality to 1e-6):

* ``Saliency`` returns |grad| like Captum's default ``abs=True``; ``Saliency(model, absolute=False)`` the signed gradient.
* ``Deconvnet`` = Captum's ``Deconvolution``, ``GuidedBackprop`` = Captum's ``GuidedBackprop``: signed gradients.
* ``Occlusion(patch, stride)`` = Captum's ``Occlusion(sliding_window_shapes=(C, patch, patch),
  strides=(C, stride, stride), baselines=baseline)``: each pixel gets the mean, over the windows that cover
  it, of score(original) - score(occluded); windows start at 0, 0 and step by ``stride``, and a last
  window overhanging the border is clipped (Captum's rule). :meth:`Occlusion.grid` gives the raw
  per-window scores that Zeiler & Fergus plot.
* ``SmoothGrad(model, stdev, n_samples, seed)`` = Captum's ``NoiseTunnel(Saliency(model)).attribute(x,
  nt_type="smoothgrad", nt_samples=n_samples, stdevs=stdev)`` when Captum's global generator is seeded with
  ``seed`` (both draw the noise as one (N * n_samples, C, H, W) normal tensor, copies of an image adjacent).
  Any other method can be smoothed: ``SmoothGrad(model, base=GuidedBackprop(model))``.
* ``IntegratedGradients(model, baseline, steps, rule)`` = Captum's ``IntegratedGradients`` with
  ``n_steps=steps, method=rule`` (Gauss-Legendre by default, as Captum): signed, and the attributions of an
  image sum to score(x) - score(baseline) up to the quadrature error (:meth:`IntegratedGradients.delta`).
  One difference: Captum's ``riemann_trapezoid`` weights are 1/n (ends halved), which sum to (n - 1)/n; ours
  are 1/(n - 1) (ends halved), which sum to 1, so ours = Captum's * n/(n - 1) for that rule.
* ``GradCAM(model, layer)`` = Captum's ``LayerGradCam(model, layer).attribute(x, target,
  relu_attributions=True)`` upsampled by ``LayerAttribution.interpolate(..., interpolate_mode="bilinear")``
  to the input's size and repeated over its channels.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["Neuron", "Attribution", "Saliency", "Deconvnet", "GuidedBackprop", "Occlusion", "SmoothGrad",
           "IntegratedGradients", "GradCAM", "RandomBaseline", "relu_backward", "RULES", "QUADRATURES", "to_heatmap",
           "get_layer", "layer_output", "occlusion_positions", "quadrature"]

RULES = ("backprop", "deconvnet", "guided")


def relu_backward(f: np.ndarray, R: np.ndarray, rule: str = "backprop") -> np.ndarray:
    """The gradient a ReLU passes back under each rule.

    - f: the ReLU's forward *input*, any shape
    - R: the upstream gradient dL/d relu(f), same shape
    - rule: ``"backprop"`` (f > 0) R, ``"deconvnet"`` (R > 0) R, ``"guided"`` (f > 0)(R > 0) R
    Returns an array of the same shape.
    """
    f, R = np.asarray(f, dtype=float), np.asarray(R, dtype=float)
    if f.shape != R.shape:
        raise ValueError(f"f and R must have the same shape, got {f.shape} and {R.shape}")
    if rule == "backprop":
        return (f > 0) * R
    if rule == "deconvnet":
        return (R > 0) * R
    if rule == "guided":
        return (f > 0) * (R > 0) * R
    raise ValueError(f"rule must be one of {RULES}, got {rule!r}")


class _RuleReLU(torch.autograd.Function):
    """max(f, 0) forward; backward by one of :data:`RULES`."""

    @staticmethod
    def forward(ctx, f: torch.Tensor, rule: str) -> torch.Tensor:
        ctx.save_for_backward(f)
        ctx.rule = rule
        return f.clamp(min=0)

    @staticmethod
    def backward(ctx, R: torch.Tensor):
        (f,) = ctx.saved_tensors
        if ctx.rule == "deconvnet":
            return R * (R > 0), None
        if ctx.rule == "guided":
            return R * (f > 0) * (R > 0), None
        return R * (f > 0), None


@contextlib.contextmanager
def _relu_rule(model: nn.Module, rule: str) -> Iterator[None]:
    """Within the block every ``nn.ReLU`` of ``model`` back-propagates by ``rule``."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    handles = []
    if rule != "backprop":
        relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
        if not relus:
            raise ValueError(f"the {rule} rule needs nn.ReLU modules in the model; found none")
        for m in relus:
            if m.inplace:
                raise ValueError("in-place ReLUs cannot be re-routed; build the model with nn.ReLU(inplace=False)")
            handles.append(m.register_forward_hook(lambda mod, inp, out: _RuleReLU.apply(inp[0], rule)))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def get_layer(model: nn.Module, layer: str | nn.Module) -> nn.Module:
    """A layer by module, by the model's short name (``model.layer("conv2")``) or by dotted path."""
    if isinstance(layer, nn.Module):
        return layer
    if hasattr(model, "layer"):
        try:
            return model.layer(layer)
        except KeyError:
            pass
    try:
        return model.get_submodule(layer)
    except AttributeError:
        raise KeyError(f"the model has no layer {layer!r}") from None


@contextlib.contextmanager
def layer_output(model: nn.Module, layer: str | nn.Module) -> Iterator[dict]:
    """Record a layer's output during the forward passes inside the block: ``store["out"]``."""
    store: dict = {}
    handle = get_layer(model, layer).register_forward_hook(lambda m, i, o: store.__setitem__("out", o))
    try:
        yield store
    finally:
        handle.remove()


@dataclass(frozen=True)
class Neuron:
    """A unit inside the network: ``layer``'s output at ``[:, channel, row, col]``.

    With ``row = col = None`` the channel's most active position in each image is used.
    For a fully connected layer (output (N, K)) give ``channel`` only.
    """
    layer: str
    channel: int
    row: int | None = None
    col: int | None = None

    def __post_init__(self) -> None:
        if (self.row is None) != (self.col is None):
            raise ValueError("give both row and col, or neither")

    def select(self, act: torch.Tensor) -> torch.Tensor:
        """The unit's value in each image: (N, C, h, w) or (N, C) -> (N,)."""
        if not 0 <= self.channel < act.shape[1]:
            raise ValueError(f"channel {self.channel} out of range for layer {self.layer!r} with {act.shape[1]} channels")
        if act.dim() == 2:
            return act[:, self.channel]
        fmap = act[:, self.channel]                           # (N, h, w)
        if self.row is None:
            return fmap.flatten(1).max(dim=1).values
        if not (0 <= self.row < fmap.shape[1] and 0 <= self.col < fmap.shape[2]):
            raise ValueError(f"position ({self.row}, {self.col}) outside the {tuple(fmap.shape[1:])} map of {self.layer!r}")
        return fmap[:, self.row, self.col]


Target = int | Sequence[int] | torch.Tensor | np.ndarray | Neuron


def _target_scores(out: torch.Tensor, target: Target) -> torch.Tensor:
    """Pick one output score per image: out (N, K) -> (N,)."""
    N, K = out.shape
    if isinstance(target, (int, np.integer)):
        if not 0 <= target < K:
            raise ValueError(f"target {target} out of range for {K} outputs")
        return out[:, int(target)]
    t = torch.as_tensor(np.asarray(target) if not isinstance(target, torch.Tensor) else target).to(out.device).long()
    if t.shape != (N,):
        raise ValueError(f"target must be an int, a Neuron or N = {N} ints, got shape {tuple(t.shape)}")
    if (t < 0).any() or (t >= K).any():
        raise ValueError(f"targets must lie in 0..{K - 1}")
    return out.gather(1, t[:, None])[:, 0]


def _objective(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """Forward ``x`` and return the explained value per image, (N,)."""
    if isinstance(target, Neuron):
        with layer_output(model, target.layer) as store:
            model(x)
        return target.select(store["out"])
    return _target_scores(model(x), target)


def _check_input(x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {tuple(x.shape)}")
    return x


class Attribution:
    """Base class: ``attribute(x, target) -> tensor of x's shape``."""

    name = "attribution"

    def __init__(self, model: nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch nn.Module, got {type(model).__name__}")
        self.model = model

    def attribute(self, x: torch.Tensor, target: Target) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _ModifiedGradient(Attribution):
    rule = "backprop"

    def gradient(self, x: torch.Tensor, target: Target) -> torch.Tensor:
        """d objective / d x under this method's ReLU rule, shape of x."""
        x = _check_input(x).detach().clone().requires_grad_(True)
        with torch.enable_grad(), _relu_rule(self.model, self.rule):
            objective = _objective(self.model, x, target)
            (grad,) = torch.autograd.grad(objective.sum(), x)
        return grad.detach()

    def attribute(self, x: torch.Tensor, target: Target) -> torch.Tensor:
        return self.gradient(x, target)


class Saliency(_ModifiedGradient):
    """Vanilla gradient (Simonyan et al., 2014): |dS/dx| (``absolute=False``: the signed gradient)."""

    name = "saliency"
    rule = "backprop"

    def __init__(self, model: nn.Module, absolute: bool = True) -> None:
        super().__init__(model)
        self.absolute = absolute

    def attribute(self, x: torch.Tensor, target: Target) -> torch.Tensor:
        g = self.gradient(x, target)
        return g.abs() if self.absolute else g


class Deconvnet(_ModifiedGradient):
    """Zeiler & Fergus's deconvnet as a backward pass: each ReLU passes back only positive gradient."""

    name = "deconvnet"
    rule = "deconvnet"


class GuidedBackprop(_ModifiedGradient):
    """Springenberg et al.: positive gradient, and only where the forward input was positive."""

    name = "guided backprop"
    rule = "guided"


class Occlusion(Attribution):
    """Slide a ``patch x patch`` square of value ``baseline`` over the image; record the score's drop.

    - patch: side of the occluder in pixels
    - stride: step between occluder positions. :meth:`grid` takes any stride (a stride above ``patch`` leaves
      gaps between the windows, which the grid does not show); :meth:`attribute` needs ``stride <= patch``
      so that every pixel is covered by some window
    - baseline: the occluder's value (0 = black background for the digits)
    - batch_size: occluded images evaluated per forward pass
    """

    name = "occlusion"

    def __init__(self, model: nn.Module, patch: int = 8, stride: int = 4, baseline: float = 0.0,
                 batch_size: int = 256) -> None:
        super().__init__(model)
        if int(patch) != patch or patch < 1 or int(stride) != stride or stride < 1:
            raise ValueError(f"patch and stride must be positive integers, got {patch!r} and {stride!r}")
        self.patch, self.stride, self.baseline, self.batch_size = int(patch), int(stride), float(baseline), int(batch_size)

    def __repr__(self) -> str:
        return f"Occlusion(patch={self.patch}, stride={self.stride})"

    def positions(self, size: int) -> list[int]:
        """Start offsets of the windows along one side of length ``size`` (see :func:`occlusion_positions`)."""
        return occlusion_positions(size, self.patch, self.stride)

    @torch.no_grad()
    def grid(self, x: torch.Tensor, target: Target) -> tuple[torch.Tensor, torch.Tensor]:
        """Objective with the occluder at each position: returns ``(scores (N, nR, nC), original (N,))``."""
        x = _check_input(x)
        N, C, H, W = x.shape
        rows, cols = self.positions(H), self.positions(W)
        windows = [(r, c) for r in rows for c in cols]
        original = _objective(self.model, x, target)
        scores = torch.empty(N, len(windows), device=x.device, dtype=original.dtype)
        for n in range(N):
            for start in range(0, len(windows), self.batch_size):
                chunk = windows[start:start + self.batch_size]
                xs = x[n:n + 1].repeat(len(chunk), 1, 1, 1)
                for k, (r, c) in enumerate(chunk):
                    xs[k, :, r:r + self.patch, c:c + self.patch] = self.baseline
                t = target if isinstance(target, (Neuron, int, np.integer)) else _row_target(target, n)
                scores[n, start:start + len(chunk)] = _objective(self.model, xs, t)
        return scores.view(N, len(rows), len(cols)), original

    def attribute(self, x: torch.Tensor, target: Target) -> torch.Tensor:
        """Per pixel: mean over the windows covering it of objective(x) - objective(x occluded)."""
        if self.stride > self.patch:
            raise ValueError(f"stride {self.stride} > patch {self.patch} leaves pixels that no window covers, so they "
                             f"get no attribution; use stride <= patch here (grid() accepts any stride)")
        scores, original = self.grid(x, target)
        N, C, H, W = x.shape
        total = torch.zeros(N, H, W, device=x.device, dtype=torch.float32)
        count = torch.zeros(H, W, device=x.device, dtype=torch.float32)
        for i, r in enumerate(self.positions(H)):
            for j, c in enumerate(self.positions(W)):
                total[:, r:r + self.patch, c:c + self.patch] += (original - scores[:, i, j])[:, None, None]
                count[r:r + self.patch, c:c + self.patch] += 1
        return (total / count)[:, None].expand(N, C, H, W).clone()


def occlusion_positions(size: int, patch: int, stride: int) -> list[int]:
    """Start offsets of occluder windows along a side of ``size`` pixels (Captum's rule).

    Windows start at 0 and step by ``stride`` until one reaches the border (that last one may overhang and is
    clipped); with ``stride > patch`` they step over gaps and stop before the border. A patch at least as
    large as the side gives one window.
    """
    if patch >= size:
        return [0]
    starts = [k * stride for k in range(math.ceil((size - patch) / stride) + 1)]
    return [s for s in starts if s < size]


def _row_target(target: Target, n: int) -> int:
    t = target[n]
    return int(t.item() if isinstance(t, torch.Tensor) else t)


def _per_image_targets(target: Target, n_images: int, repeats: int) -> Target:
    """The target of each of ``n_images`` images, repeated for ``repeats`` adjacent copies of each."""
    if isinstance(target, (Neuron, int, np.integer)):
        return target
    t = torch.as_tensor(np.asarray(target) if not isinstance(target, torch.Tensor) else target).long().cpu()
    if t.shape != (n_images,):
        raise ValueError(f"target must be an int, a Neuron or N = {n_images} ints, got shape {tuple(t.shape)}")
    return t.repeat_interleave(repeats)


def _index_target(target: Target, idx: slice) -> Target:
    return target if isinstance(target, (Neuron, int, np.integer)) else target[idx]


class SmoothGrad(Attribution):
    """SmoothGrad (Smilkov et al., 2017): the mean of a method's maps over noisy copies of the image.

    - base: the method smoothed (default :class:`Saliency`, |gradient|)
    - stdev: standard deviation of the Gaussian noise added to the pixels (the paper's noise level
      sigma / (x_max - x_min) is this for images in [0, 1]; it recommends 10-20 %)
    - n_samples: noisy copies per image
    - seed: the noise is drawn from ``torch.Generator().manual_seed(seed)`` at each call (so a call is
      reproducible), on the CPU, as one (N * n_samples, C, H, W) tensor: copies of an image are adjacent
    - batch_size: noisy copies evaluated per backward pass

    Gradients of a ReLU network are piecewise constant and jump from pixel to pixel ("speckle"); averaging
    them over a neighbourhood of the image keeps what is consistent and removes what is not.
    """

    name = "SmoothGrad"

    def __init__(self, model: nn.Module, base: Attribution | None = None, stdev: float = 0.15, n_samples: int = 32,
                 seed: int = 0, batch_size: int = 256) -> None:
        super().__init__(model)
        if not stdev >= 0:
            raise ValueError(f"stdev must be >= 0, got {stdev!r}")
        if int(n_samples) != n_samples or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        if base is not None and not isinstance(base, Attribution):
            raise TypeError(f"base must be an attribution method such as GuidedBackprop(model), got {type(base).__name__}")
        self.base = base if base is not None else Saliency(model)
        self.stdev, self.n_samples, self.seed, self.batch_size = float(stdev), int(n_samples), int(seed), int(batch_size)

    def __repr__(self) -> str:
        return f"SmoothGrad({self.base!r}, stdev={self.stdev:g}, n_samples={self.n_samples})"

    def noise(self, shape: tuple[int, ...]) -> torch.Tensor:
        """The noise of one call: (N * n_samples, C, H, W), on the CPU."""
        N, *rest = shape
        gen = torch.Generator().manual_seed(self.seed)
        return torch.randn((N * self.n_samples, *rest), generator=gen) * self.stdev

    def attribute(self, x: torch.Tensor, target: Target) -> torch.Tensor:
        x = _check_input(x)
        N, S = len(x), self.n_samples
        noisy = x.detach().repeat_interleave(S, dim=0) + self.noise(tuple(x.shape)).to(x.device, x.dtype)
        targets = _per_image_targets(target, N, S)
        parts = [self.base.attribute(noisy[i:i + self.batch_size], _index_target(targets, slice(i, i + self.batch_size)))
                 for i in range(0, len(noisy), self.batch_size)]
        return torch.cat(parts).view(N, S, *x.shape[1:]).mean(dim=1)


#: Quadrature rules of :class:`IntegratedGradients` (Captum's names).
QUADRATURES = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")


def quadrature(steps: int, rule: str = "gausslegendre") -> tuple[np.ndarray, np.ndarray]:
    """Points ``alphas`` in [0, 1] and weights (summing to 1) approximating an integral over [0, 1]."""
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    n = int(steps)
    if rule == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return 0.5 * (nodes + 1), 0.5 * weights
    if rule == "riemann_trapezoid":
        if n < 2:
            raise ValueError("the trapezoid rule needs at least 2 steps")
        w = np.full(n, 1.0 / (n - 1))
        w[[0, -1]] *= 0.5
        return np.linspace(0, 1, n), w
    offsets = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}
    if rule not in offsets:
        raise ValueError(f"rule must be one of {QUADRATURES}, got {rule!r}")
    return (np.arange(n) + offsets[rule]) / n, np.full(n, 1.0 / n)


class IntegratedGradients(Attribution):
    """Integrated gradients (Sundararajan et al., 2017), signed.

    :math:`\\mathrm{IG}_i(x) = (x_i - x'_i) \\int_0^1 \\partial S(x' + \\alpha (x - x')) / \\partial x_i \\, d\\alpha`,
    the integral by a ``steps``-point quadrature (``rule``: one of :data:`QUADRATURES`).

    - baseline: x', a float (every pixel; 0 = the black background of the digits) or a tensor
      broadcastable to x
    - batch_size: path points evaluated per backward pass

    Completeness: an image's attributions sum to S(x) - S(x') (exactly for the exact integral); see :meth:`delta`.
    """

    name = "integrated gradients"

    def __init__(self, model: nn.Module, baseline: float | torch.Tensor = 0.0, steps: int = 32,
                 rule: str = "gausslegendre", batch_size: int = 256) -> None:
        super().__init__(model)
        self.alphas, self.weights = quadrature(steps, rule)
        self.baseline, self.steps, self.rule, self.batch_size = baseline, int(steps), rule, int(batch_size)

    def __repr__(self) -> str:
        return f"IntegratedGradients(steps={self.steps}, rule={self.rule!r})"

    def _baseline(self, x: torch.Tensor) -> torch.Tensor:
        b = torch.as_tensor(self.baseline, dtype=x.dtype, device=x.device)
        try:
            return torch.broadcast_to(b, x.shape)
        except RuntimeError:
            raise ValueError(f"baseline of shape {tuple(b.shape)} does not broadcast to the input's {tuple(x.shape)}") from None

    def attribute(self, x: torch.Tensor, target: Target) -> torch.Tensor:
        x = _check_input(x).detach()
        N, S = len(x), self.steps
        x0 = self._baseline(x)
        alphas = torch.as_tensor(self.alphas, dtype=x.dtype, device=x.device).view(1, S, 1, 1, 1)
        path = (x0[:, None] + alphas * (x - x0)[:, None]).reshape(N * S, *x.shape[1:])
        targets = _per_image_targets(target, N, S)
        grad = Saliency(self.model, absolute=False)
        g = torch.cat([grad.attribute(path[i:i + self.batch_size], _index_target(targets, slice(i, i + self.batch_size)))
                       for i in range(0, len(path), self.batch_size)]).view(N, S, *x.shape[1:])
        w = torch.as_tensor(self.weights, dtype=x.dtype, device=x.device).view(1, S, 1, 1, 1)
        return (x - x0) * (w * g).sum(dim=1)

    @torch.no_grad()
    def delta(self, x: torch.Tensor, target: Target, attributions: torch.Tensor) -> torch.Tensor:
        """Completeness error per image: sum of attributions - (S(x) - S(baseline)), shape (N,)."""
        x = _check_input(x)
        gap = _objective(self.model, x, target) - _objective(self.model, self._baseline(x), target)
        return attributions.flatten(1).sum(dim=1) - gap


class GradCAM(Attribution):
    """Grad-CAM (Selvaraju et al., 2017): a layer's feature maps weighted by their mean gradient.

    With :math:`A^k` the ``layer``'s k-th feature map (h, w) and :math:`S` the explained score,
    :math:`\\alpha_k = \\frac{1}{hw} \\sum_{ij} \\partial S / \\partial A^k_{ij}` and the map is
    :math:`\\mathrm{ReLU}(\\sum_k \\alpha_k A^k)` (``relu=False``: without the ReLU), upsampled bilinearly to the
    input's H x W and repeated over its C channels. Coarse (the layer's resolution: ``relu3`` of the course CNN
    is H/4 x W/4) but class-discriminative: it shows *where*, not *which pixels*.
    """

    name = "Grad-CAM"

    def __init__(self, model: nn.Module, layer: str | nn.Module = "relu3", relu: bool = True) -> None:
        super().__init__(model)
        self.layer, self.relu = get_layer(model, layer), bool(relu)
        self.layer_name = layer if isinstance(layer, str) else type(layer).__name__

    def __repr__(self) -> str:
        return f"GradCAM(layer={self.layer_name!r})"

    def layer_map(self, x: torch.Tensor, target: Target) -> torch.Tensor:
        """The map at the layer's resolution, (N, 1, h, w)."""
        x = _check_input(x).detach()
        with torch.enable_grad(), layer_output(self.model, self.layer) as store:
            objective = _objective(self.model, x, target)
            A = store["out"]
            if A.dim() != 4:
                raise ValueError(f"Grad-CAM needs a convolutional layer with output (N, C, h, w); "
                                 f"{self.layer_name!r} gives {tuple(A.shape)}")
            (dA,) = torch.autograd.grad(objective.sum(), A)
        cam = (dA.mean(dim=(2, 3), keepdim=True) * A.detach()).sum(dim=1, keepdim=True)
        return cam.clamp(min=0) if self.relu else cam

    def attribute(self, x: torch.Tensor, target: Target) -> torch.Tensor:
        cam = self.layer_map(x, target)
        up = nn.functional.interpolate(cam, size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)
        return up.expand(-1, x.shape[1], -1, -1).clone()


class RandomBaseline(Attribution):
    """Uniform random maps, independent of the model: the chance level of a metric.

    ``seed`` makes the sequence of maps reproducible; each call draws new maps.
    """

    name = "random"

    def __init__(self, model: nn.Module | None = None, seed: int = 0) -> None:
        self.model = model
        self.generator = torch.Generator().manual_seed(seed)

    def attribute(self, x: torch.Tensor, target: Target | None = None) -> torch.Tensor:
        x = _check_input(x)
        return torch.rand(x.shape, generator=self.generator).to(x.device)


def to_heatmap(attr: torch.Tensor | np.ndarray, absolute: bool = True) -> np.ndarray:
    """(N, C, H, W) attribution -> (N, H, W) map: max over channels of |attr| (or of attr)."""
    a = attr.detach().cpu().numpy() if isinstance(attr, torch.Tensor) else np.asarray(attr)
    if a.ndim != 4:
        raise ValueError(f"expected an attribution of shape (N, C, H, W), got {a.shape}")
    return (np.abs(a) if absolute else a).max(axis=1)
