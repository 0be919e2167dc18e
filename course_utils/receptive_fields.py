"""Receptive fields and maximally activating patches of convolutional units.

A unit at position (i, j) of a conv layer's output sees a square of the input: its **receptive field**.
Walking from the input through each conv or pool layer with kernel k, stride s and padding p, three
numbers describe it (Dumoulin & Visin's arithmetic):

.. math::

    r_{l} = r_{l-1} + (k - 1)\\, j_{l-1}, \\qquad j_l = j_{l-1}\\, s, \\qquad
    o_l = o_{l-1} + \\big(\\tfrac{k - 1}{2} - p\\big)\\, j_{l-1},

starting from r = 1, j = 1, o = 0: the unit (i, j) of layer l is centred on input pixel
(o_l + i j_l, o_l + j j_l) and sees r_l x r_l pixels. :func:`top_patches` finds the k strongest
activations of one channel over a data set and crops those squares ("Visualize patches that
maximally activate neurons", Girshick et al. 2014; Zeiler & Fergus 2014).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["ReceptiveField", "receptive_field", "layer_activations", "top_patches", "crop"]


@dataclass(frozen=True)
class ReceptiveField:
    """size r, jump j (input pixels between neighbouring units), offset o (centre of unit 0, 0)."""
    size: int
    jump: int
    offset: float

    def box(self, i: int, j: int) -> tuple[int, int, int, int]:
        """Input box ``(top, left, bottom, right)`` (may extend past the image) seen by unit (i, j)."""
        half = (self.size - 1) / 2
        top = int(round(self.offset + i * self.jump - half))
        left = int(round(self.offset + j * self.jump - half))
        return top, left, top + self.size, left + self.size


def _geometry(m: nn.Module) -> tuple[int, int, int] | None:
    def one(v):
        return v[0] if isinstance(v, tuple) else v
    if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        stride = m.stride if m.stride is not None else m.kernel_size
        return one(m.kernel_size), one(stride), one(m.padding)
    return None


def receptive_field(model: nn.Module, layer: str) -> ReceptiveField:
    """Receptive field of the units of ``layer`` in a model whose ``features`` is an ``nn.Sequential``.

    Layers without geometry (batch norm, ReLU) do not change it. Raises ``KeyError`` for unknown names.
    """
    features = getattr(model, "features", None)
    if not isinstance(features, nn.Sequential):
        raise TypeError("receptive_field needs a model with an nn.Sequential named 'features'")
    r, j, o = 1, 1, 0.0
    for name, m in features.named_children():
        g = _geometry(m)
        if g is not None:
            k, s, p = g
            r, o, j = r + (k - 1) * j, o + ((k - 1) / 2 - p) * j, j * s
        if name == layer:
            return ReceptiveField(r, j, o)
    raise KeyError(f"no layer {layer!r} in model.features; choose one of {list(features._modules)}")


@torch.no_grad()
def layer_activations(model: nn.Module, X: torch.Tensor, layer: str, batch_size: int = 256) -> torch.Tensor:
    """Output of ``layer`` for every image: X (N, C, H, W) -> (N, K, h, w) on the CPU."""
    from .attribution import layer_output
    dev = next(model.parameters()).device
    outs = []
    with layer_output(model, layer) as store:
        for i in range(0, len(X), batch_size):
            model(X[i:i + batch_size].to(dev))
            outs.append(store["out"].detach().cpu())
    return torch.cat(outs)


def crop(image: np.ndarray, box: tuple[int, int, int, int], fill: float = 0.0) -> np.ndarray:
    """``image[top:bottom, left:right]`` of an (H, W) image, padded with ``fill`` where the box leaves it."""
    t, l, b, r = box
    H, W = image.shape
    out = np.full((b - t, r - l), fill, dtype=image.dtype)
    tt, ll, bb, rr = max(t, 0), max(l, 0), min(b, H), min(r, W)
    if tt < bb and ll < rr:
        out[tt - t:bb - t, ll - l:rr - l] = image[tt:bb, ll:rr]
    return out


def top_patches(model: nn.Module, X: torch.Tensor, layer: str, channel: int, k: int = 8,
                one_per_image: bool = True, activations: torch.Tensor | None = None
                ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int]]]:
    """The ``k`` input patches that activate unit ``channel`` of ``layer`` most.

    - X: (N, 1, H, W) images
    - one_per_image: at most one patch per image (otherwise neighbouring positions of one image repeat)
    - activations: precomputed :func:`layer_activations` (to loop over channels cheaply)
    Returns ``(patches (k, r, r), values (k,), where)`` with ``where[n] = (image, i, j)``.
    """
    act = layer_activations(model, X, layer) if activations is None else activations
    if not 0 <= channel < act.shape[1]:
        raise ValueError(f"channel {channel} out of range for {layer!r} with {act.shape[1]} channels")
    fmap = act[:, channel].numpy()                           # (N, h, w)
    N, h, w = fmap.shape
    if one_per_image:
        best = fmap.reshape(N, -1).argmax(1)
        vals = fmap.reshape(N, -1).max(1)
        order = np.argsort(-vals, kind="stable")[:k]
        where = [(int(n), *map(int, divmod(best[n], w))) for n in order]
    else:
        order = np.argsort(-fmap.ravel(), kind="stable")[:k]
        where = [tuple(int(v) for v in np.unravel_index(f, fmap.shape)) for f in order]
    rf = receptive_field(model, layer)
    images = X[:, 0].cpu().numpy()
    patches = np.stack([crop(images[n], rf.box(i, j)) for n, i, j in where])
    values = np.array([fmap[n, i, j] for n, i, j in where])
    return patches, values, where
