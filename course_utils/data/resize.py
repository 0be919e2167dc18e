"""Bilinear resizing of image stacks (the digits to 32x32 for the course CNN, digits placed on scenes)."""

from __future__ import annotations

import numpy as np

__all__ = ["resize_images"]


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of a stack of images.

    Input (N, h, w) float; output (N, size, size) float32 (values stay within the input's range).
    """
    import torch
    import torch.nn.functional as F

    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise ValueError(f"expected images of shape (N, h, w), got {images.shape}")
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    t = torch.from_numpy(images)[:, None]
    out = F.interpolate(t, size=(int(size), int(size)), mode="bilinear", align_corners=False)
    return out[:, 0].clamp_(float(images.min(initial=0)), float(images.max(initial=1))).numpy()
