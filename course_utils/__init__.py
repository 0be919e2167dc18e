"""Helper package for the course "Visualising CNNs and Recurrent Neural Networks".

Modules, one job each:

* :mod:`course_utils.runtime`   -- device selection, seeding, dtype helpers.
* :mod:`course_utils.data`      -- digits, digit scenes, tinyshakespeare, code corpora, character vocabularies.
* :mod:`course_utils.cnn`       -- the course CNN for digits and digit scenes, trained once and cached (units 1, 2, 7).
* :mod:`course_utils.rnn`       -- NumPy reference RNN layers (unit 3) and the "hello" model.
* :mod:`course_utils.charrnn`   -- min-char-rnn and its batched sibling (units 4-5).
* :mod:`course_utils.training`  -- a small training loop helper with progress bar and live loss plot.
* :mod:`course_utils.notebooks` -- executing, normalising and generating notebooks.
* :mod:`course_utils.assign`    -- generating student labs from solution notebooks.
* :mod:`course_utils.grader`    -- the sandboxed autograder and gradebook.
* :mod:`course_utils.cli`       -- the ``course`` command line.
"""

__version__ = "0.1.0"
