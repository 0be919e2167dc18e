"""pytest plugin for the notebook part of ``make test`` (``-p tests.nbval_patience``): patience under load.

After a cell's execution reply, nbval reads the cell's output messages with a fixed 5-second limit
per message ("Timeout of 5 seconds exceeded waiting for output"); on a 2-core machine with another
busy process (a browser, a second notebook) the kernel's output thread can be late by more than that,
and a correct notebook fails. This raises that limit to ``COURSE_NBVAL_OUTPUT_TIMEOUT`` seconds
(default 120). The limit for a whole cell is nbval's ``--nbval-cell-timeout`` (set in the Makefile).
"""

from __future__ import annotations

import os

OUTPUT_TIMEOUT = float(os.environ.get("COURSE_NBVAL_OUTPUT_TIMEOUT", "120"))


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if hasattr(item, "output_timeout"):      # nbval's IPyNbCell
            item.output_timeout = OUTPUT_TIMEOUT
