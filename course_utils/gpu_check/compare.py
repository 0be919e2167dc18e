"""How a result computed on one device is compared with the CPU's: the measures and their tolerances.

Both sides start from the same weights and the same inputs (copied from the CPU), so they compute the same
maths; they differ only in the order of floating-point sums and in the kernels (cuDNN, cuBLAS, OpenMP).
A smooth result (a forward pass, a loss) then agrees to about 1e-6 relative in float32. Some results are not
smooth: a ReLU or max-pool gradient jumps where a unit crosses 0 or two pool inputs swap order, the sign of a
gradient (FGSM) and an argmax (accuracy, decoding) flip where two values are within rounding of each other, and
training and pixel optimisations carry such differences from step to step. Each kind gets its rule, with a limit
above what a model of another device's rounding produces (measured, see :data:`TOLERANCES`) and far below what a
real fault gives (a tensor left on the wrong device, a generator drawn on the device, a missing ``.eval()``).

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


#: The rules, by name. The limits are the same whatever the device; ``--tolerances`` prints this table. Each ``why``
#: quotes what was measured with ``--device cpu --emulate-rounding 1e-6`` (every layer's output perturbed by 1e-6
#: relative, a pessimistic model of another device's float32 rounding; full set) and, for adversarial training,
#: between one and two CPU threads.
TOLERANCES: dict[str, Tolerance] = {
    "pass": Tolerance(
        "a forward pass or a loss (scores, logits, attention weights, beam scores): relative L2 error ‖a - b‖ / ‖a‖",
        1e-3, "smooth in the inputs and weights: differences stay at the rounding level (measured at most 2e-6; "
              "the first loss of adversarial training, whose inputs are signs, 1.3e-4)"),
    "gradient": Tolerance(
        "an attribution map, an input gradient, one class-visualisation step: relative L2 error ‖a - b‖ / ‖a‖",
        0.05, "ReLU and max-pool gradients jump where a unit crosses 0 or two pool inputs swap order, so a few "
              "units route their gradient differently (measured at most 9.5e-3; a wrong map is off by about 1)"),
    "signs": Tolerance(
        "attack images (FGSM, PGD, ...): fraction of pixels that differ by more than 1e-4", 0.25,
        "sign(gradient) flips where a gradient is within rounding of 0, and PGD's ten steps carry a flip on "
        "(measured: FGSM 6e-5, PGD 0.09; a wrong sign or projection changes most pixels)"),
    "argmax": Tolerance(
        "accuracy (of a model, under attack): |a - b| in images", 2,
        "an image whose top two scores are within rounding of each other may change class (measured at most 1)",
        " images"),
    "iterate": Tolerance(
        "the final image of an optimisation of the pixels (DeepDream, style transfer, fooling images): relative L2 "
        "error", 0.2,
        "normalised and Adam steps move a pixel by a fixed amount whatever its gradient's size, so pixels whose "
        "gradient is near 0 go either way (measured at most 0.057)"),
    "objective": Tolerance(
        "the objective per step of such an optimisation: max_t |a_t - b_t| / mean_t |a_t|", 0.05,
        "as above, for the recorded objective (measured at most 0.014)"),
    "climb": Tolerance(
        "class visualisation from a black image: final objective, |a - b| / |a|", 0.3,
        "a constant image gives equal activations everywhere, so max-pool ties are split by rounding and the two "
        "ascents take different paths to similar scores (measured: images apart by 100 %, scores by up to 0.14)"),
    "curve": Tolerance(
        "training loss per step: max_t |a_t - b_t| / mean_t |a_t|", 0.05,
        "the same weights on the same batches; differences grow with the steps but stay far below the loss's "
        "step-to-step noise, which a different batch order would show (measured at most 0.019, the digits CNN)"),
    "chaotic": Tolerance(
        "training loss per step of FGSM adversarial training: mean_t |a_t - b_t| / mean_t |a_t|", 0.1,
        "its inputs are sign(gradient), so the curves part after the first step (measured 0.028; between 1 and 2 "
        "CPU threads 0.032; another batch order gives 0.23)"),
    "metric": Tolerance(
        "a trained model's final metric (accuracy, F1, nats/char): |a - b|", 0.02,
        "the curves agree, so the models do; a margin for argmax flips (measured at most 0.0056)"),
    "decode": Tolerance(
        "greedy/beam/sampled captions: captions that differ", 1,
        "a word whose log-probability is within rounding of the next best may be chosen differently, and the "
        "caption then goes its own way (measured 0)", " caption(s)"),
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


_MEASURES = {"pass": rel_l2, "gradient": rel_l2, "iterate": rel_l2, "objective": curve_deviation,
             "signs": fraction_differing, "curve": curve_deviation,
             "chaotic": mean_curve_deviation, "decode": rows_differing}


def measure(what: str, rule: str, ref, other) -> Measure:
    """Compare ``ref`` and ``other`` by ``rule`` (for ``argmax``, ``metric`` and ``climb`` pass the two numbers)."""
    if rule not in TOLERANCES:
        raise ValueError(f"unknown rule {rule!r}; choose one of {sorted(TOLERANCES)}")
    if rule in ("argmax", "metric", "climb"):
        a, b = float(ref), float(other)
        value = abs(a - b) if math.isfinite(a) and math.isfinite(b) else math.inf
        if rule == "climb":
            value = value / abs(a) if a != 0 else (0.0 if value == 0 else math.inf)
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
