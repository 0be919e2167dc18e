"""Find the :class:`~course_utils.grader.spec.LabSpec` of every lab.

Each module ``course_utils/grader/labs/labNN_*.py`` defines ``LAB = LabSpec(...)``.
"""

from __future__ import annotations

import importlib
import pkgutil

from . import labs as _labs_pkg
from .spec import LabSpec

__all__ = ["get_lab", "all_labs", "lab_ids"]


def all_labs() -> dict[str, LabSpec]:
    """Every declared lab, by id (``"03_rnn_basics"`` ...), in order."""
    found: dict[str, LabSpec] = {}
    for mod in sorted(pkgutil.iter_modules(_labs_pkg.__path__), key=lambda m: m.name):
        if not mod.name.startswith("lab"):
            continue
        module = importlib.import_module(f"{_labs_pkg.__name__}.{mod.name}")
        spec = getattr(module, "LAB", None)
        if isinstance(spec, LabSpec):
            found[spec.lab_id] = spec
    return found


def lab_ids() -> list[str]:
    return list(all_labs())


def get_lab(lab_id: str) -> LabSpec:
    """The spec of lab ``lab_id``; accepts ``03_rnn_basics`` or ``03_rnn_basics_lab``."""
    key = lab_id.removesuffix("_lab").removesuffix(".ipynb").removesuffix("_lab")
    labs = all_labs()
    if key not in labs:
        raise KeyError(f"unknown lab {lab_id!r}; the course's labs are {sorted(labs)}")
    return labs[key]
