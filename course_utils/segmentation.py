"""From a saliency map to an object mask (Simonyan et al. 2014, section 3.2), scored against known boxes.

Simonyan et al. turn a class saliency map into a segmentation without any segmentation training: the most
salient pixels seed the object, the least salient ones the background, and GrabCut (a graph cut on colour
models) fills in the rest. The course does the same with scikit-image's tools:

* ``method="random_walker"`` -- seeds as above; :func:`skimage.segmentation.random_walker` labels every other
  pixel by where a random walk on the *image* (steps cheap between similar pixels) most likely ends: the
  mask follows the image's own edges, as GrabCut's does;
* ``method="threshold"`` -- the smoothed map above Otsu's threshold, closed with a disk, small specks removed.

In both, only the connected region that contains the map's maximum is kept (the object the map points at).
:func:`mask_box` and :func:`box_iou` score a mask against a box, :func:`segment_and_score` a whole set.

Boxes are ``(top, left, bottom, right)``, bottom/right exclusive (as :class:`course_utils.data.SceneObject`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

__all__ = ["saliency_segmentation", "mask_box", "box_iou", "segment_and_score", "METHODS"]

METHODS = ("random_walker", "threshold")
Box = tuple[int, int, int, int]


def _check_map(saliency: np.ndarray, image: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    s = np.asarray(saliency, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"saliency must be one (H, W) map, got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("saliency contains NaN or inf")
    if image is not None:
        image = np.asarray(image, dtype=np.float64)
        if image.shape != s.shape:
            raise ValueError(f"image {image.shape} and saliency {s.shape} must have the same (H, W) shape")
    return s, image


def _component_at_max(mask: np.ndarray, saliency: np.ndarray) -> np.ndarray:
    """The connected region of ``mask`` (8-connected) holding the most salient masked pixel."""
    from skimage.measure import label
    if not mask.any():
        return mask
    labels = label(mask, connectivity=2)
    flat = np.where(mask, saliency, -np.inf).argmax()
    return labels == labels.flat[flat]


def saliency_segmentation(saliency: np.ndarray, image: np.ndarray | None = None, method: str = "random_walker",
                          fg_quantile: float = 0.95, bg_quantile: float = 0.7, beta: float = 130.0,
                          sigma: float = 1.0) -> np.ndarray:
    """A boolean object mask (H, W) from a saliency map (H, W) (larger = more important).

    - image: the (H, W) image in [0, 1] the map explains (needed by ``"random_walker"``)
    - method: ``"random_walker"`` or ``"threshold"`` (see the module docstring)
    - fg_quantile, bg_quantile: random walker seeds -- pixels whose smoothed saliency is above the
      ``fg_quantile`` quantile are object, below the ``bg_quantile`` quantile background
    - beta: the random walker's edge sensitivity (scikit-image's parameter)
    - sigma: Gaussian smoothing of the map (pixels) before seeds or threshold are taken
    """
    from scipy.ndimage import gaussian_filter
    from skimage.filters import threshold_otsu
    from skimage.morphology import binary_closing, disk, remove_small_objects
    s, image = _check_map(saliency, image)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not 0 <= bg_quantile < fg_quantile < 1:
        raise ValueError(f"need 0 <= bg_quantile < fg_quantile < 1, got {bg_quantile} and {fg_quantile}")
    smooth = gaussian_filter(s, sigma) if sigma > 0 else s
    if np.ptp(smooth) == 0:
        return np.zeros(s.shape, dtype=bool)          # a flat map points nowhere
    if method == "threshold":
        mask = smooth > threshold_otsu(smooth)
        mask = remove_small_objects(binary_closing(mask, disk(2)), min_size=4)
        return _component_at_max(mask, smooth)
    if image is None:
        raise ValueError("the random walker segments the image: pass image=")
    from skimage.segmentation import random_walker
    markers = np.zeros(s.shape, dtype=np.int32)
    markers[smooth <= np.quantile(smooth, bg_quantile)] = 2
    markers[smooth >= np.quantile(smooth, fg_quantile)] = 1
    with warnings.catch_warnings():
        # the conjugate-gradient solution may leave [0, 1] by a little; only its argmax (the label) is used
        warnings.filterwarnings("ignore", message="The probability range is outside", category=UserWarning)
        labels = random_walker(image, markers, beta=beta, mode="cg_j", tol=1e-4)
    return _component_at_max(labels == 1, smooth)


def mask_box(mask: np.ndarray) -> Box | None:
    """The tightest box ``(top, left, bottom, right)`` around a boolean mask's pixels; None when it is empty."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must have shape (H, W), got {mask.shape}")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def box_iou(a: Box | None, b: Box | None) -> float:
    """Intersection over union of two boxes (0 when either is None or they do not overlap)."""
    if a is None or b is None:
        return 0.0
    t, l = max(a[0], b[0]), max(a[1], b[1])
    bo, r = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, bo - t) * max(0, r - l)
    area = lambda x: max(0, x[2] - x[0]) * max(0, x[3] - x[1])  # noqa: E731
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def segment_and_score(maps: np.ndarray, images: np.ndarray, boxes: Sequence[Box], method: str = "random_walker",
                      **kwargs) -> dict[str, np.ndarray]:
    """Segment each (map, image) pair and score its mask's box against the true box.

    - maps, images: (N, H, W); boxes: N boxes
    Returns ``{"iou": (N,) IoU of the mask's box with the true box, "masks": (N, H, W) bool}``.
    """
    maps, images = np.asarray(maps), np.asarray(images)
    if maps.shape != images.shape or maps.ndim != 3 or len(maps) != len(boxes):
        raise ValueError(f"need maps and images of one shape (N, H, W) and N boxes, got {maps.shape}, "
                         f"{images.shape} and {len(boxes)} boxes")
    masks = np.stack([saliency_segmentation(m, im, method, **kwargs) for m, im in zip(maps, images)]) \
        if len(maps) else np.zeros(maps.shape, dtype=bool)
    iou = np.array([box_iou(mask_box(m), tuple(b)) for m, b in zip(masks, boxes)])
    return {"iou": iou, "masks": masks}
