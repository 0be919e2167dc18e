"""Attribution maps for a CNN: which input pixels does a score (or any neuron) depend on?

One object per method, one verb, in the spirit of Captum's ``captum.attr`` package::

    Saliency(model).attribute(x, target)           # |dS/dx|              (Simonyan et al., 2014)
    Deconvnet(model).attribute(x, target)          # ReLU passes positive gradient only (Zeiler & Fergus, 2014)
    GuidedBackprop(model).attribute(x, target)     # both masks          (Springenberg et al., 2015)
    Occlusion(model, patch=8, stride=4).attribute(x, target)   # score drop under a grey patch
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
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["Neuron", "Attribution", "Saliency", "Deconvnet", "GuidedBackprop", "Occlusion", "RandomBaseline",
           "relu_backward", "RULES", "to_heatmap", "get_layer", "layer_output"]

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
    - stride: step between occluder positions (at most ``patch``, as in Captum, so every pixel is covered)
    - baseline: the occluder's value (0 = black background for the digits)
    - batch_size: occluded images evaluated per forward pass
    """

    name = "occlusion"

    def __init__(self, model: nn.Module, patch: int = 8, stride: int = 4, baseline: float = 0.0,
                 batch_size: int = 256) -> None:
        super().__init__(model)
        if int(patch) != patch or patch < 1 or int(stride) != stride or stride < 1:
            raise ValueError(f"patch and stride must be positive integers, got {patch!r} and {stride!r}")
        if stride > patch:
            raise ValueError(f"stride {stride} > patch {patch} would leave pixels that no window covers")
        self.patch, self.stride, self.baseline, self.batch_size = int(patch), int(stride), float(baseline), int(batch_size)

    def __repr__(self) -> str:
        return f"Occlusion(patch={self.patch}, stride={self.stride})"

    def positions(self, size: int) -> list[int]:
        """Start offsets of the windows along one side of length ``size`` (Captum's rule)."""
        if self.patch >= size:
            return [0]
        return [k * self.stride for k in range(math.ceil((size - self.patch) / self.stride) + 1)]

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
        scores, original = self.grid(x, target)
        N, C, H, W = x.shape
        total = torch.zeros(N, H, W, device=x.device, dtype=torch.float32)
        count = torch.zeros(H, W, device=x.device, dtype=torch.float32)
        for i, r in enumerate(self.positions(H)):
            for j, c in enumerate(self.positions(W)):
                total[:, r:r + self.patch, c:c + self.patch] += (original - scores[:, i, j])[:, None, None]
                count[r:r + self.patch, c:c + self.patch] += 1
        return (total / count)[:, None].expand(N, C, H, W).clone()


def _row_target(target: Target, n: int) -> int:
    t = target[n]
    return int(t.item() if isinstance(t, torch.Tensor) else t)


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
