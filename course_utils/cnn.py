"""The course CNN: a small convolutional network for digits and digit scenes (units 1, 2 and 7).

One architecture, two trained instances:

* ``"digits"`` -- single digits resized to 32x32, softmax over 10 classes, global *average* pooling.
* ``"scenes"`` -- 64x64 scenes of 1-3 digits (:mod:`course_utils.data.scenes`), one sigmoid per digit
  ("is there a 7 somewhere?"), global *max* pooling so each class score comes from one place.

Layers (names are stable; hooks, attribution methods and Captum address them)::

    features.conv1  1 -> 16, 3x3, pad 1   bn1  relu1  pool1 (2x2 max)
    features.conv2 16 -> 32, 3x3, pad 1   bn2  relu2  pool2 (2x2 max)
    features.conv3 32 -> 64, 3x3, pad 1   bn3  relu3  pool3 (2x2 max)
    global pooling (avg or max) -> classifier (64 -> 10)

(each conv is followed by batch normalisation, ``features.bn1..3``, before its ReLU).

Input x (N, 1, H, W) in [0, 1] with H, W multiples of 8 -> feature grid (N, 64, H/8, W/8) -> scores (N, 10).
Every ReLU is its own ``nn.ReLU`` module (never reused), so guided backprop can hook it.

:func:`load_cnn` returns the course's **shipped** weights (``data/cnn/``, a few hundred kB, SHA-256 checked), so every
machine sees the same model bytes and no lecture trains silently on a first run. :func:`train_cnn` is the real
training run (digits: about 10 s on 2 CPU cores; scenes: about a minute); ``course cnn --retrain`` trains into the
cache ``data/cache/cnn/`` (used only where no shipped copy matches the config), and ``course cnn --ship`` writes
the shipped copy.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .runtime import get_device

__all__ = ["DigitCNN", "CNNConfig", "CONFIGS", "train_cnn", "evaluate_cnn", "load_cnn", "cnn_data", "predict_proba"]


class DigitCNN(nn.Module):
    """Three 3x3 conv layers with ReLU, two 2x2 max-pools, global pooling and a linear read-out.

    - num_classes: C, number of output scores
    - channels: output channels of conv1, conv2, conv3
    - pool: ``"avg"`` (digits) or ``"max"`` (scenes) global pooling of the feature grid

    Shapes: x (N, 1, H, W) -> :meth:`features` (N, channels[2], H/8, W/8) -> :meth:`code` (N, channels[2])
    -> forward (N, C) unnormalised scores.
    """

    def __init__(self, num_classes: int = 10, channels: tuple[int, int, int] = (16, 32, 64), pool: str = "avg") -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        c1, c2, c3 = channels
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(1, c1, 3, padding=1)), ("bn1", nn.BatchNorm2d(c1)), ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(c1, c2, 3, padding=1)), ("bn2", nn.BatchNorm2d(c2)), ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),
            ("conv3", nn.Conv2d(c2, c3, 3, padding=1)), ("bn3", nn.BatchNorm2d(c3)), ("relu3", nn.ReLU()),
            ("pool3", nn.MaxPool2d(2)),
        ]))
        self.pool_kind = pool
        self.global_pool = nn.AdaptiveAvgPool2d(1) if pool == "avg" else nn.AdaptiveMaxPool2d(1)
        self.classifier = nn.Linear(c3, num_classes)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"expected input of shape (N, 1, H, W), got {tuple(x.shape)}")
        if x.shape[2] % 8 or x.shape[3] % 8:
            raise ValueError(f"H and W must be multiples of 8, got {tuple(x.shape[2:])}")

    def feature_grid(self, x: torch.Tensor) -> torch.Tensor:
        """The last conv block's output: (N, 1, H, W) -> (N, C3, H/8, W/8)."""
        self._check(x)
        return self.features(x)

    def code(self, x: torch.Tensor) -> torch.Tensor:
        """The globally pooled feature vector ("CNN code"): (N, 1, H, W) -> (N, C3)."""
        return self.global_pool(self.feature_grid(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.code(x))

    def layer(self, name: str) -> nn.Module:
        """A layer by its short name (``"conv1"``, ``"relu3"``, ``"classifier"`` ...)."""
        if name == "classifier":
            return self.classifier
        if name in self.features._modules:
            return self.features._modules[name]
        raise KeyError(f"no layer {name!r}; choose one of {[*self.features._modules, 'classifier']}")


@dataclass(frozen=True)
class CNNConfig:
    """Everything that determines a trained model (its hash names the cache file)."""
    kind: str                # "digits" or "scenes"
    size: int                # input side in pixels
    pool: str
    epochs: int
    batch_size: int
    lr: float
    n_train: int = 0         # scenes: number of training scenes (digits: the whole train split)
    shift: int = 0           # digits: random translation augmentation in pixels
    seed: int = 0

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


CONFIGS: dict[str, CNNConfig] = {
    "digits": CNNConfig("digits", size=32, pool="avg", epochs=15, batch_size=32, lr=1e-2, shift=2),
    "scenes": CNNConfig("scenes", size=64, pool="max", epochs=5, batch_size=32, lr=1e-2, n_train=6000),
}


def cnn_data(kind: str, split: str, config: CNNConfig | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The data a model of ``kind`` trains and is tested on, as CPU tensors.

    - digits: X (N, 1, 32, 32) float32 in [0, 1], y (N,) int64 -- the digits split resized to 32x32
    - scenes: X (N, 1, 64, 64), y (N, 10) float32 multi-hot (``config.n_train`` train, 1,000 val/test scenes)

    ``config`` defaults to ``CONFIGS[kind]``.
    """
    from .data import load_digits_split, make_scenes
    if kind not in CONFIGS:
        raise ValueError(f"kind must be 'digits' or 'scenes', got {kind!r}")
    config = config or CONFIGS[kind]
    if kind == "digits":
        d = load_digits_split().resized(config.size)
        X, y = getattr(d, f"X_{split}"), getattr(d, f"y_{split}")
        return torch.from_numpy(X[:, None]), torch.from_numpy(y)
    n = config.n_train if split == "train" else 1000
    s = make_scenes(n, split=split, canvas=config.size, seed=0)
    return torch.from_numpy(s.images[:, None]), torch.from_numpy(s.labels)


def _shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Random integer translation of each image by up to ``max_shift`` pixels (zero fill)."""
    if max_shift == 0:
        return x
    N, _, H, W = x.shape
    p = max_shift
    padded = nn.functional.pad(x, (p, p, p, p))
    dy = torch.randint(0, 2 * p + 1, (N,), generator=gen)
    dx = torch.randint(0, 2 * p + 1, (N,), generator=gen)
    rows = (dy[:, None] + torch.arange(H)[None])[:, None, :, None].expand(N, 1, H, W + 2 * p)
    out = padded.gather(2, rows.to(x.device))
    cols = (dx[:, None] + torch.arange(W)[None])[:, None, None, :].expand(N, 1, H, W)
    return out.gather(3, cols.to(x.device))


@torch.no_grad()
def predict_proba(model: nn.Module, X: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Class probabilities (softmax for digits models, sigmoid for scenes models): (N, 1, H, W) -> (N, C)."""
    model.eval()
    dev = next(model.parameters()).device
    outs = [model(X[i:i + batch_size].to(dev)) for i in range(0, len(X), batch_size)]
    scores = torch.cat(outs).cpu()
    return scores.sigmoid() if getattr(model, "pool_kind", "avg") == "max" else scores.softmax(1)


def evaluate_cnn(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Metrics on one split.

    Digits (y (N,) int): ``accuracy``. Scenes (y (N, C) multi-hot): ``exact`` (all C decisions at 0.5
    right), ``f1`` (micro-averaged over digits present) and ``label_accuracy``.
    """
    p = predict_proba(model, X)
    if y.dim() == 1:
        return {"accuracy": float((p.argmax(1) == y).float().mean())}
    pred = p > 0.5
    truth = y > 0.5
    tp = float((pred & truth).sum())
    f1 = 2 * tp / max(float(pred.sum() + truth.sum()), 1.0)
    return {"exact": float((pred == truth).all(1).float().mean()), "f1": f1,
            "label_accuracy": float((pred == truth).float().mean())}


def train_cnn(config: CNNConfig, device: str | torch.device | None = None, progress: bool = True) -> tuple[DigitCNN, dict]:
    """Train a :class:`DigitCNN` as ``config`` says; return ``(model, info)``.

    ``info`` holds the config, the training time in seconds, the device, and the validation and test
    metrics of :func:`evaluate_cnn`. Deterministic for a given seed, device and thread count.
    """
    from .training import fit
    dev = get_device(device)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    Xtr, ytr = cnn_data(config.kind, "train", config)
    model = DigitCNN(pool=config.pool).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    steps_per_epoch = (len(Xtr) + config.batch_size - 1) // config.batch_size
    n_steps = config.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=n_steps)
    loss_fn = nn.CrossEntropyLoss() if config.kind == "digits" else nn.BCEWithLogitsLoss()
    order = torch.randperm(len(Xtr), generator=gen)

    def step(i: int) -> float:
        nonlocal order
        j = i % steps_per_epoch
        if j == 0 and i > 0:
            order = torch.randperm(len(Xtr), generator=gen)
        idx = order[j * config.batch_size:(j + 1) * config.batch_size]
        xb = _shift(Xtr[idx], config.shift, gen).to(dev)
        yb = ytr[idx].to(dev)
        model.train()
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        return loss.item()

    t0 = time.perf_counter()
    fit(step, n_steps, desc=f"training the {config.kind} CNN", live_plot=False) if progress else [step(i) for i in range(n_steps)]
    seconds = time.perf_counter() - t0
    model.eval()
    info = {"config": asdict(config), "seconds": seconds, "device": str(dev),
            "val": evaluate_cnn(model, *cnn_data(config.kind, "val", config)),
            "test": evaluate_cnn(model, *cnn_data(config.kind, "test", config))}
    return model, info


def _shipped_dir() -> Path:
    """``data/cnn/`` of the course checkout (or ``$COURSE_SHIPPED_CNN_DIR``)."""
    return Path(os.environ.get("COURSE_SHIPPED_CNN_DIR", Path(__file__).resolve().parent.parent / "data" / "cnn"))


def _paths(folder: Path, config: CNNConfig) -> tuple[Path, Path]:
    stem = f"{config.kind}-{config.key()}"
    return folder / f"{stem}.pt", folder / f"{stem}.json"


def _cache_paths(config: CNNConfig) -> tuple[Path, Path]:
    from .data import cache_dir
    folder = cache_dir() / "cnn"
    folder.mkdir(parents=True, exist_ok=True)
    return _paths(folder, config)


def _read_checked(weights: Path, meta: Path, pool: str) -> tuple[DigitCNN, dict] | None:
    """Load ``weights`` if it and its JSON exist and the SHA-256 matches; None if absent; a clear error if corrupt."""
    if not (weights.exists() and meta.exists()):
        return None
    info = json.loads(meta.read_text())
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    if digest != info.get("sha256"):
        print(f"weights {weights} fail their checksum (got {digest[:12]}, expected "
              f"{str(info.get('sha256'))[:12]}); ignoring them")
        return None
    model = DigitCNN(pool=pool)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model, info


def _write_atomic(weights: Path, meta: Path, payload: bytes, info: dict) -> None:
    """Write to temporary names, then rename: a reader never sees half a file."""
    weights.parent.mkdir(parents=True, exist_ok=True)
    tmp = weights.with_name(f"{weights.name}.part-{os.getpid()}")
    tmp.write_bytes(payload)
    meta_tmp = meta.with_name(f"{meta.name}.part-{os.getpid()}")
    meta_tmp.write_text(json.dumps(info, indent=1) + "\n")
    tmp.replace(weights)
    meta_tmp.replace(meta)


def load_cnn(kind: str = "digits", device: str | torch.device | None = None, *, retrain: bool = False,
             progress: bool = True, ship: bool = False) -> tuple[DigitCNN, dict]:
    """The trained course CNN of ``kind`` (``"digits"`` or ``"scenes"``).

    Looks, in order, in the course's shipped weights ``data/cnn/`` (the same bytes on every machine), then in the
    cache ``data/cache/cnn/`` (what ``course cnn --retrain`` wrote, used where nothing is shipped for the config);
    trains only when neither exists. ``retrain=True`` trains now and
    writes the cache (``ship=True``: the shipped copy too). A lecture never passes ``retrain``: it would change
    what other lectures load; it calls :func:`train_cnn` for a training run of its own.

    Returns ``(model, info)`` with the model in eval mode on ``device``; ``info`` is what :func:`train_cnn`
    reported plus ``"source"`` (``"shipped"``, ``"cache"`` or ``"trained"``), ``"cached"`` (not trained now)
    and the weights' ``"sha256"``. Weights are a plain ``state_dict`` (loaded with ``weights_only=True``) next to
    a JSON file with their SHA-256; a file whose checksum does not match is reported and skipped.
    """
    if kind not in CONFIGS:
        raise ValueError(f"kind must be one of {sorted(CONFIGS)}, got {kind!r}")
    config = CONFIGS[kind]
    dev = get_device(device)
    if not retrain:
        for source, (weights, meta) in (("shipped", _paths(_shipped_dir(), config)), ("cache", _cache_paths(config))):
            found = _read_checked(weights, meta, config.pool)
            if found is not None:
                model, info = found
                return model.to(dev).eval(), {**info, "source": source, "cached": True}
    model, info = train_cnn(config, dev, progress=progress)
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    info["sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    targets = [_cache_paths(config)] + ([_paths(_shipped_dir(), config)] if ship else [])
    for weights, meta in targets:
        previous = json.loads(meta.read_text()).get("sha256") if meta.exists() else None
        if previous != info["sha256"] or not weights.exists():
            _write_atomic(weights, meta, buf.getvalue(), info)
    return model.eval(), {**info, "source": "trained", "cached": False}


def to_numpy_images(x: torch.Tensor) -> np.ndarray:
    """(N, 1, H, W) tensor -> (N, H, W) float array for plotting."""
    return x.detach().cpu().numpy()[:, 0]
