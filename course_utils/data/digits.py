"""scikit-learn's handwritten digits (1,797 images of 8x8 pixels, 10 classes), ready to train on.

Pixel values are scaled from 0..16 to 0..1. Splits are stratified and seeded, so every student
sees the same train/val/test partition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DigitsSplit", "load_digits_split"]


@dataclass(frozen=True)
class DigitsSplit:
    """Train/val/test arrays. Images have shape (N, 8, 8), float32 in [0, 1]; labels (N,) int64."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    def tensors(self, split: str, device=None):
        """Return ``(X, y)`` of one split (``"train"``, ``"val"`` or ``"test"``) as torch tensors on ``device``.

        X is (N, 8, 8) float32, y is (N,) int64; ``device`` defaults to :func:`course_utils.runtime.get_device`.
        """
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        import torch

        from ..runtime import get_device
        dev = get_device(device)
        X, y = getattr(self, f"X_{split}"), getattr(self, f"y_{split}")
        return torch.from_numpy(X).to(dev), torch.from_numpy(y).to(dev)

    def resized(self, size: int) -> "DigitsSplit":
        """The same split with every image resized (bilinear) to (size, size), e.g. 32 for the course CNN."""
        from .resize import resize_images
        return DigitsSplit(*(resize_images(a, size) if i % 2 == 0 else a for i, a in enumerate(
            (self.X_train, self.y_train, self.X_val, self.y_val, self.X_test, self.y_test))))

    def flat(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(X, y)`` of one split with images flattened to (N, 64)."""
        X, y = getattr(self, f"X_{split}"), getattr(self, f"y_{split}")
        return X.reshape(len(X), -1), y


def load_digits_split(val_fraction: float = 0.15, test_fraction: float = 0.2, seed: int = 0) -> DigitsSplit:
    """Load the digits and split them (stratified) into train/val/test.

    Shapes: ``X_*`` (N, 8, 8) float32 in [0, 1]; ``y_*`` (N,) int64 in 0..9.
    With the defaults: 1,167 train, 270 val and 360 test images.
    """
    if not (0 < test_fraction < 1 and 0 <= val_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError("need 0 < test_fraction < 1, 0 <= val_fraction < 1 and val_fraction + test_fraction < 1")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=test_fraction, random_state=seed, stratify=y)
    if val_fraction == 0:
        X_val, y_val = X_rest[:0], y_rest[:0]
        X_train, y_train = X_rest, y_rest
    else:
        X_train, X_val, y_train, y_val = train_test_split(
            X_rest, y_rest, test_size=val_fraction / (1 - test_fraction), random_state=seed, stratify=y_rest)
    return DigitsSplit(X_train, y_train, X_val, y_val, X_test, y_test)
