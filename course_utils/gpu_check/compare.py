"""How a result computed on one device is compared with the CPU's: the measures and their tolerances.

Both sides start from the same weights and the same inputs (copied from the CPU), so they compute the same
maths; they differ only in the order of floating-point sums and in the kernels (cuDNN, cuBLAS, OpenMP).
In float32 (TF32 off) one forward or backward pass agrees to about 1e-6 relative; the tolerances below leave a
wide margin over that, and a real fault (a tensor left on the wrong device, a generator drawn on the device,
a missing ``.eval()``) is orders of magnitude larger. Discrete decisions -- the sign of a gradient (FGSM),
an argmax (accuracy, decoding) -- flip where two values are within rounding of each other, so those are
counted, not required to be equal. Training amplifies differences step by step: loss curves and final
metrics are compared with margins.

Every measure is a :class:`Measure`: a value computed from the two results, the tolerance it must meet and
the name of the rule (a key of :data:`TOLERANCES`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Tolerance", "TOLERANCES", "Measure", "rel_l2", "curve_deviation", "mean_curve_deviation",
           "fraction_differing", "rows_differing", "measure", "tolerance_table"]


@dataclass(frozen=True)
class Tolerance:
    """A comparison rule: what is measured, the limit the measure must not exceed, and why that limit."""
    what: str
    limit: float
    why: str
    unit: str = ""

    def text(self) -> str:
        return f"<= {self.limit:g}{self.unit}"


#: The rules, by name. The limits are the same whatever the device; ``--tolerances`` prints this table.
TOLERANCES: dict[str, Tolerance] = {
    "pass": Tolerance(
        "one forward/backward pass (scores, gradients, attribution maps): relative L2 error ‖a - b‖ / ‖a‖",
        1e-3,
        "float32 sums in another order agree to ~1e-6; sign-masked ReLU rules (deconvnet, guided) flip only at ~0"),
    "iterate": Tolerance(
        "an optimisation of the pixels (class visualisation, DeepDream, style transfer, fooling images): "
        "relative L2 error of the final image", 1e-2,
        "tens of steps, each ~1e-6 apart, normalised steps and clipping keep errors from growing fast"),
    "objective": Tolerance(
        "the objective per step of such an optimisation: max_t |a_t - b_t| / mean_t |a_t|", 1e-3,
        "same as above, for the recorded objective"),
    "signs": Tolerance(
        "FGSM/PGD images: fraction of pixels that differ by more than 1e-4", 0.01,
        "sign(gradient) flips only where a gradient is within rounding of 0", ""),
    "argmax": Tolerance(
        "accuracy (of a model, under attack): |a - b| in images", 2,
        "an image whose top two scores are within rounding of each other may change class", " images"),
    "curve": Tolerance(
        "training loss per step: max_t |a_t - b_t| / mean_t |a_t|", 0.01,
        "a few dozen steps from the same weights on the same batches; differences grow but stay far below the "
        "loss's own step-to-step noise (a different batch order would exceed it)"),
    "chaotic": Tolerance(
        "training loss per step of FGSM adversarial training: mean_t |a_t - b_t| / mean_t |a_t|", 0.1,
        "its inputs are sign(gradient), which flips where a gradient is within rounding of 0, so the curves part "
        "after the first step (measured: 0.04 between 1 and 2 CPU threads; another batch order gives 0.23)"),
    "metric": Tolerance(
        "a trained model's final metric (accuracy, F1, nats/char): |a - b|", 0.02,
        "the curves agree, so the models do; a margin for argmax flips and accumulated rounding"),
    "decode": Tolerance(
        "greedy/beam/sampled captions: captions that differ", 1,
        "a word whose log-probability is within rounding of the next best may be chosen differently, "
        "and the caption then goes its own way", " caption(s)"),
}


@dataclass
class Measure:
    """One comparison: ``what`` was measured, ``value`` was found, rule ``rule`` (a key of :data:`TOLERANCES`)."""
    what: str
    value: float
    rule: str

    @property
    def limit(self) -> float:
        return TOLERANCES[self.rule].limit

    @property
    def ok(self) -> bool:
        return math.isfinite(self.value) and self.value <= self.limit

    def value_text(self) -> str:
        v = self.value
        if not math.isfinite(v):
            return str(v)
        if self.rule in ("argmax", "decode"):
            return f"{v:g}"
        return "0" if v == 0 else f"{v:.1e}"

    def as_dict(self) -> dict:
        return {"what": self.what, "rule": self.rule, "value": self.value, "limit": self.limit, "ok": self.ok}


def _arrays(ref, other) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(ref, dtype=np.float64)
    b = np.asarray(other, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"the two results differ in shape: {a.shape} vs {b.shape}")
    return a, b


def rel_l2(ref, other) -> float:
    """||ref - other||_2 / ||ref||_2 (``inf`` when the shapes differ or a value is not finite; 0 for two zeros)."""
    try:
        a, b = _arrays(ref, other)
    except ValueError:
        return math.inf
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.inf
    diff = float(np.linalg.norm(a - b))
    norm = float(np.linalg.norm(a))
    if norm == 0:
        return 0.0 if diff == 0 else math.inf
    return diff / norm


def curve_deviation(ref: Sequence[float], other: Sequence[float]) -> float:
    """max_t |ref_t - other_t| / mean_t |ref_t| for two curves of the same length (``inf`` otherwise)."""
    try:
        a, b = _arrays(ref, other)
    except ValueError:
        return math.inf
    if a.ndim != 1 or a.size == 0 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.inf
    scale = float(np.abs(a).mean())
    dev = float(np.abs(a - b).max())
    if scale == 0:
        return 0.0 if dev == 0 else math.inf
    return dev / scale


def fraction_differing(ref, other, atol: float = 1e-4) -> float:
    """Fraction of elements with |ref - other| > atol (1.0 when the shapes differ)."""
    try:
        a, b = _arrays(ref, other)
    except ValueError:
        return 1.0
    return float((np.abs(a - b) > atol).mean()) if a.size else 0.0


def mean_curve_deviation(ref: Sequence[float], other: Sequence[float]) -> float:
    """mean_t |ref_t - other_t| / mean_t |ref_t| for two curves of the same length (``inf`` otherwise)."""
    try:
        a, b = _arrays(ref, other)
    except ValueError:
        return math.inf
    if a.ndim != 1 or a.size == 0 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.inf
    scale = float(np.abs(a).mean())
    dev = float(np.abs(a - b).mean())
    if scale == 0:
        return 0.0 if dev == 0 else math.inf
    return dev / scale


def rows_differing(ref, other) -> int:
    """Rows (e.g. captions (N, T) of word ids) that are not identical; all of them when the shapes differ."""
    a, b = np.asarray(ref), np.asarray(other)
    if a.shape != b.shape:
        return max(len(a), len(b))
    return int((a.reshape(len(a), -1) != b.reshape(len(b), -1)).any(axis=1).sum())


_MEASURES = {"pass": rel_l2, "iterate": rel_l2, "objective": curve_deviation,
             "signs": fraction_differing, "curve": curve_deviation,
             "chaotic": mean_curve_deviation, "decode": rows_differing}


def measure(what: str, rule: str, ref, other) -> Measure:
    """Compare ``ref`` and ``other`` by ``rule`` (for ``argmax`` and ``metric`` pass the two numbers)."""
    if rule not in TOLERANCES:
        raise ValueError(f"unknown rule {rule!r}; choose one of {sorted(TOLERANCES)}")
    if rule in ("argmax", "metric"):
        a, b = float(ref), float(other)
        value = abs(a - b) if math.isfinite(a) and math.isfinite(b) else math.inf
    else:
        value = float(_MEASURES[rule](ref, other))
    return Measure(what, value, rule)


def tolerance_table() -> str:
    """:data:`TOLERANCES` as a Markdown table (what ``--tolerances`` prints and the README quotes)."""
    lines = ["| rule | what is compared | tolerance |", "|---|---|---|"]
    for name, t in TOLERANCES.items():
        what = t.what.replace("|", "\\|")            # a bar inside a Markdown table cell is escaped
        lines.append(f"| `{name}` | {what} | {t.text()} |")
    return "\n".join(lines)
