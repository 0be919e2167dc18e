"""One module per lab, each defining ``LAB = LabSpec(...)`` (see :mod:`course_utils.grader.spec`)."""
