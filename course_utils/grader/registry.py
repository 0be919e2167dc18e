"""Find the :class:`~course_utils.grader.spec.LabSpec` of every lab.

Each module ``course_utils/grader/labs/labNN_*.py`` defines ``LAB = LabSpec(...)``. Extra lab
modules (an instructor's private labs, test fixtures) can be named, comma-separated, in the
environment variable ``COURSE_GRADER_LABS`` (importable module names, e.g. ``mylabs.lab09``).
"""

from __future__ import annotations

import importlib
import os
import pkgutil

from . import labs as _labs_pkg
from .spec import LabSpec

__all__ = ["get_lab", "all_labs", "lab_ids"]


def all_labs() -> dict[str, LabSpec]:
    """Every declared lab, by id (``"03_rnn_basics"`` ...), in order."""
    found: dict[str, LabSpec] = {}
    names = [f"{_labs_pkg.__name__}.{mod.name}"
             for mod in sorted(pkgutil.iter_modules(_labs_pkg.__path__), key=lambda m: m.name)
             if mod.name.startswith("lab")]
    names += [n.strip() for n in os.environ.get("COURSE_GRADER_LABS", "").split(",") if n.strip()]
    for name in names:
        module = importlib.import_module(name)
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
