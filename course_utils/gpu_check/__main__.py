"""``python -m course_utils.gpu_check``: see :mod:`course_utils.gpu_check.run`."""

import sys

from .run import main

sys.exit(main())
