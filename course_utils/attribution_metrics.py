"""Measuring attribution maps instead of only looking at them.

* :func:`pointing_game` -- Zhang et al. (2016): a *hit* when a map's maximum falls inside the box of
  the object it should explain; accuracy = hits / (hits + misses). :func:`chance_hit_rate` is what a
  uniformly random map scores on the same boxes (the box's share of the image).
* :func:`randomize_layers`, :func:`cascading_randomization` -- Adebayo et al. (2018)'s model-parameter
  randomisation test: re-initialise the layers from the top down, one more each time, and see whether an
  attribution method's maps change. A method whose maps survive randomisation does not explain the model.
* :func:`train_on_shuffled_labels` -- the data randomisation test: the same network trained on
  permuted labels.
* :func:`rank_correlation` -- Spearman's rank correlation between two maps (what Adebayo et al. report).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["pointing_game", "chance_hit_rate", "rank_correlation", "mean_rank_correlation", "randomize_layers",
           "cascading_randomization", "train_on_shuffled_labels"]

Box = tuple[int, int, int, int]


def _check_maps(maps: np.ndarray, n: int) -> np.ndarray:
    maps = np.asarray(maps, dtype=float)
    if maps.ndim != 3 or len(maps) != n:
        raise ValueError(f"maps must have shape (N, H, W) with N = {n} boxes, got {maps.shape}")
    return maps


def pointing_game(maps: np.ndarray, boxes: Sequence[Box], tolerance: int = 0) -> np.ndarray:
    """Hit or miss per map.

    - maps: (N, H, W) attribution maps (larger = more important)
    - boxes: N boxes ``(top, left, bottom, right)``, bottom/right exclusive
    - tolerance: a hit may lie up to this many pixels outside the box (Zhang et al. use 15 px at 224 px)
    Returns a bool array (N,): whether ``argmax(map)`` lies in the (enlarged) box. Ties go to the first
    maximum in row-major order.
    """
    maps = _check_maps(maps, len(boxes))
    N, H, W = maps.shape
    flat = maps.reshape(N, -1).argmax(axis=1)
    rows, cols = np.divmod(flat, W)
    hits = np.empty(N, dtype=bool)
    for n, (t, l, b, r) in enumerate(boxes):
        hits[n] = (t - tolerance <= rows[n] < b + tolerance) and (l - tolerance <= cols[n] < r + tolerance)
    return hits


def chance_hit_rate(boxes: Sequence[Box], shape: tuple[int, int], tolerance: int = 0) -> float:
    """Expected pointing-game accuracy of a map whose maximum is uniform over the image: mean box area / H W."""
    H, W = shape
    areas = [(min(b + tolerance, H) - max(t - tolerance, 0)) * (min(r + tolerance, W) - max(l - tolerance, 0))
             for t, l, b, r in boxes]
    return float(np.mean(areas) / (H * W))


def _ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 with ties given their average rank (as Spearman's rho needs)."""
    from scipy.stats import rankdata
    return rankdata(a)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation between two maps of the same shape (flattened).

    rho = Pearson correlation of the ranks; 1 = same ordering of pixels, 0 = unrelated.
    A constant map has no ordering: the result is then 0.
    """
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"maps must have the same number of pixels, got {a.size} and {b.size}")
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra ** 2).sum() * (rb ** 2).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


def mean_rank_correlation(maps_a: np.ndarray, maps_b: np.ndarray) -> float:
    """Mean over images of :func:`rank_correlation` between (N, H, W) stacks of maps."""
    maps_a, maps_b = np.asarray(maps_a), np.asarray(maps_b)
    if maps_a.shape != maps_b.shape or maps_a.ndim != 3:
        raise ValueError(f"expected two (N, H, W) stacks of the same shape, got {maps_a.shape} and {maps_b.shape}")
    return float(np.mean([rank_correlation(a, b) for a, b in zip(maps_a, maps_b)]))


def randomize_layers(model: nn.Module, names: Sequence[str], seed: int = 0) -> nn.Module:
    """A copy of ``model`` whose named layers are re-initialised (``reset_parameters``), in eval mode.

    Batch-norm layers also forget their running statistics. Names are the model's short names
    (``"conv3"``, ``"bn3"``, ``"classifier"``) or dotted paths.
    """
    from .attribution import get_layer
    clone = copy.deepcopy(model)
    torch.manual_seed(seed)
    for name in names:
        layer = get_layer(clone, name)
        if not hasattr(layer, "reset_parameters"):
            raise ValueError(f"layer {name!r} ({type(layer).__name__}) has no parameters to randomise")
        layer.reset_parameters()
        if hasattr(layer, "reset_running_stats"):
            layer.reset_running_stats()
    return clone.eval()


def cascading_randomization(model: nn.Module, blocks: Sequence[Sequence[str]], seed: int = 0
                            ) -> list[tuple[str, nn.Module]]:
    """Adebayo et al.'s cascade: randomise ``blocks[0]``, then ``blocks[0]`` and ``blocks[1]``, ...

    - blocks: groups of layer names from the top of the network down, e.g.
      ``[["classifier"], ["conv3", "bn3"], ["conv2", "bn2"], ["conv1", "bn1"]]``
    Returns ``[(label, model), ...]`` where label names the lowest randomised block (``"up to conv2"``).
    """
    out, names = [], []
    for k, block in enumerate(blocks):
        names += list(block)
        out.append((f"up to {block[0]}", randomize_layers(model, names, seed=seed + k)))
    return out


def train_on_shuffled_labels(make_model, X: torch.Tensor, y: torch.Tensor, epochs: int = 30, batch_size: int = 32,
                             lr: float = 1e-2, seed: int = 0, device=None, progress: bool = True
                             ) -> tuple[nn.Module, dict]:
    """Adebayo et al.'s data randomisation test: train ``make_model()`` on ``X`` with permuted labels.

    - X (N, 1, H, W), y (N,) int64: a training set; its labels are shuffled once with ``seed``
    Returns ``(model in eval mode, info)`` with ``info["train_accuracy"]`` on the shuffled labels (how
    much of them it memorised) and ``info["seconds"]``.
    """
    from .runtime import get_device
    from .training import fit
    dev = get_device(device)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    y_shuffled = y[torch.randperm(len(y), generator=gen)]
    model = make_model().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = (len(X) + batch_size - 1) // batch_size
    n_steps = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=n_steps)
    order = torch.randperm(len(X), generator=gen)

    def step(i: int) -> float:
        nonlocal order
        j = i % steps_per_epoch
        if j == 0 and i > 0:
            order = torch.randperm(len(X), generator=gen)
        idx = order[j * batch_size:(j + 1) * batch_size]
        model.train()
        loss = nn.functional.cross_entropy(model(X[idx].to(dev)), y_shuffled[idx].to(dev))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        return loss.item()

    if progress:
        history = fit(step, n_steps, desc="training on shuffled labels", live_plot=False)
        seconds = history.seconds
    else:
        import time
        t0 = time.perf_counter()
        for i in range(n_steps):
            step(i)
        seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(X[i:i + 512].to(dev)).argmax(1).cpu() for i in range(0, len(X), 512)])
    return model, {"train_accuracy": float((pred == y_shuffled).float().mean()), "seconds": seconds,
                   "true_label_accuracy": float((pred == y).float().mean())}
