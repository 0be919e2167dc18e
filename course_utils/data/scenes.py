"""Digit scenes: real handwritten digits placed on a larger canvas, with their boxes kept.

Units 1 (pointing game), 2 and 7 (captioning) need images with several objects whose positions are
known. ImageNet and COCO cannot be downloaded, so the course composes its own: each scene is a
``canvas x canvas`` image holding 1..k real 8x8 digits from scikit-learn, each upscaled to a
*small* or *large* glyph and placed without overlap. Everything is deterministic in ``seed``, and
the digits of the train/val/test scenes come from the matching split of
:func:`~course_utils.data.digits.load_digits_split`, so no test digit is ever seen in training.

* :class:`SceneObject` -- one digit in a scene: its label, box and size class.
* :class:`SceneSet`    -- images (N, S, S), the objects of each scene, multi-hot labels (N, 10).
* :func:`make_scenes`  -- generate a :class:`SceneSet`.
* :func:`resize_images` -- bilinear resizing of (N, h, w) images to (N, s, s) (used for digits too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .digits import load_digits_split
from .resize import resize_images

__all__ = ["SIZES", "SceneObject", "SceneSet", "make_scenes", "resize_images"]

#: Side length in pixels of a glyph of each size class (before a jitter of up to +-2 pixels).
SIZES: dict[str, int] = {"small": 16, "large": 28}


@dataclass(frozen=True)
class SceneObject:
    """One digit placed in a scene.

    - digit: its label 0..9
    - box: ``(top, left, bottom, right)`` in pixels, bottom/right exclusive (NumPy slicing order)
    - size: ``"small"`` or ``"large"``
    """
    digit: int
    box: tuple[int, int, int, int]
    size: str

    @property
    def center(self) -> tuple[float, float]:
        """``(row, col)`` of the box centre."""
        t, l, b, r = self.box
        return (t + b) / 2, (l + r) / 2

    def contains(self, row: float, col: float) -> bool:
        """Whether pixel ``(row, col)`` lies inside the box."""
        t, l, b, r = self.box
        return t <= row < b and l <= col < r


@dataclass(frozen=True)
class SceneSet:
    """A set of scenes.

    - images: (N, S, S) float32 in [0, 1]
    - objects: N lists of :class:`SceneObject`
    - labels: (N, 10) float32 multi-hot: 1 where the digit occurs in the scene
    """
    images: np.ndarray
    objects: list[list[SceneObject]]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, idx) -> "SceneSet":
        idx = np.arange(len(self))[idx]
        idx = np.atleast_1d(idx)
        return SceneSet(self.images[idx], [self.objects[i] for i in idx], self.labels[idx])

    def tensors(self, device=None):
        """``(X, y)`` as torch tensors: X (N, 1, S, S) float32, y (N, 10) float32 multi-hot."""
        import torch

        from ..runtime import get_device
        dev = get_device(device)
        return (torch.from_numpy(self.images[:, None]).to(dev), torch.from_numpy(self.labels).to(dev))

    def masks(self, n: int) -> np.ndarray:
        """Boolean masks (len(objects[n]), S, S) of the boxes of scene ``n``."""
        S = self.images.shape[-1]
        out = np.zeros((len(self.objects[n]), S, S), dtype=bool)
        for k, obj in enumerate(self.objects[n]):
            t, l, b, r = obj.box
            out[k, t:b, l:r] = True
        return out


def _place(rng: np.random.Generator, canvas: int, side: int, taken: list[tuple[int, int, int, int]],
           gap: int, tries: int = 200) -> tuple[int, int, int, int] | None:
    for _ in range(tries):
        top = int(rng.integers(0, canvas - side + 1))
        left = int(rng.integers(0, canvas - side + 1))
        box = (top, left, top + side, left + side)
        if all(box[0] >= b[2] + gap or box[2] + gap <= b[0] or box[1] >= b[3] + gap or box[3] + gap <= b[1]
               for b in taken):
            return box
    return None


def make_scenes(n: int, *, split: str = "train", canvas: int = 64, min_digits: int = 1, max_digits: int = 3,
                sizes: tuple[str, ...] = ("small", "large"), distinct: bool = True, gap: int = 2,
                seed: int = 0) -> SceneSet:
    """Compose ``n`` scenes of real handwritten digits.

    - split: which digits to draw from (``"train"``, ``"val"`` or ``"test"`` of :func:`load_digits_split`)
    - canvas: side S of the square scene in pixels
    - min_digits, max_digits: number of digits per scene, drawn uniformly in this range
    - sizes: size classes to draw from (see :data:`SIZES`); each glyph's side is jittered by up to 2 px
    - distinct: no digit label occurs twice in one scene (keeps "the seven" unambiguous)
    - gap: minimum free pixels between two boxes

    Returns a :class:`SceneSet` with images (n, S, S) float32 in [0, 1]. Deterministic in ``seed``.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    if not 1 <= min_digits <= max_digits <= 10:
        raise ValueError("need 1 <= min_digits <= max_digits <= 10")
    unknown = [s for s in sizes if s not in SIZES]
    if unknown or not sizes:
        raise ValueError(f"sizes must be a non-empty subset of {sorted(SIZES)}, got {sizes!r}")
    if canvas < max(SIZES[s] for s in sizes) + 2:
        raise ValueError(f"canvas {canvas} is too small for glyphs of size {sizes}")
    data = load_digits_split()
    X, y = getattr(data, f"X_{split}"), getattr(data, f"y_{split}")
    by_label = [np.flatnonzero(y == d) for d in range(10)]
    rng = np.random.default_rng([seed, ("train", "val", "test").index(split)])
    glyph_cache: dict[tuple[int, int], np.ndarray] = {}

    images = np.zeros((n, canvas, canvas), dtype=np.float32)
    objects: list[list[SceneObject]] = []
    labels = np.zeros((n, 10), dtype=np.float32)
    for i in range(n):
        k = int(rng.integers(min_digits, max_digits + 1))
        digits = rng.choice(10, size=k, replace=not distinct)
        placed: list[SceneObject] = []
        for d in digits:
            size = str(sizes[int(rng.integers(len(sizes)))])
            side = SIZES[size] + int(rng.integers(-2, 3))
            box = _place(rng, canvas, side, [o.box for o in placed], gap)
            if box is None:      # no room left: keep the scene with fewer digits
                continue
            src = int(by_label[d][rng.integers(len(by_label[d]))])
            key = (src, side)
            if key not in glyph_cache:
                glyph_cache[key] = resize_images(X[src][None], side)[0]
            t, l, b, r = box
            np.maximum(images[i, t:b, l:r], glyph_cache[key], out=images[i, t:b, l:r])
            placed.append(SceneObject(int(d), box, size))
            labels[i, d] = 1.0
        objects.append(placed)
    return SceneSet(images, objects, labels)
