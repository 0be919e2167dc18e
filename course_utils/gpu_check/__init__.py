"""The GPU check (``make gpu-check``): every PyTorch path of the course on CUDA, compared with the CPU.

* :mod:`.compare` -- the measures and their tolerances (:data:`~.compare.TOLERANCES`);
* :mod:`.paths` -- the course's paths, each runnable on any device from the same CPU weights;
* :mod:`.run` -- the runner and the table (``python -m course_utils.gpu_check --help``).

Not used by the lectures, the labs or the grader: a check for the machine the course runs on.
"""

from .compare import TOLERANCES, Measure, measure, tolerance_table
from .paths import GROUPS, Fixtures, Path, build_paths
from .run import PathReport, main, run_checks

__all__ = ["TOLERANCES", "Measure", "measure", "tolerance_table", "GROUPS", "Fixtures", "Path", "build_paths",
           "PathReport", "main", "run_checks"]
