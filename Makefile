# One-command setup for the course. Everything lives in .venv/ at the repository root.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.course-installed
KERNEL := course-cnn-rnn
JOBS   ?= 2

WORKSPACE ?= $(CURDIR)/workspace
NBVAL_CELL_TIMEOUT ?= 900

.PHONY: setup check-python lab test test-fast notebooks assign lock clean

setup: check-python $(STAMP)

# A .venv built with another Python (or whose Python is gone) would fail in obscure ways forever: say so.
check-python:
	@if [ -e $(PY) ] || [ -d $(VENV) ]; then \
	    if ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then \
	        echo "error: $(VENV)/ was built with $$($(PY) --version 2>/dev/null || echo 'a Python that no longer runs'), not Python 3.11." >&2; \
	        echo "       Remove it with 'make clean', then run again with a Python 3.11, e.g. make PYTHON=/path/to/python3.11 $(MAKECMDGOALS)" >&2; \
	        echo "       (README, 'Quick start': getting Python 3.11 with uv, pyenv or conda)." >&2; \
	        exit 1; \
	    fi; \
	elif ! $(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then \
	    echo "error: the course needs Python 3.11, and '$(PYTHON)' is $$($(PYTHON) --version 2>&1 | head -1 || echo 'not installed')." >&2; \
	    echo "       Install Python 3.11 (README, 'Quick start': uv, pyenv or conda), then: make PYTHON=/path/to/python3.11 $(MAKECMDGOALS)" >&2; \
	    exit 1; \
	fi

$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python 3 (CNN & RNN course)" > /dev/null
	@touch $(STAMP)
	@echo "course environment ready in $(VENV)/ (kernel: $(KERNEL))"

# LAB_ARGS passes options to JupyterLab, e.g. make lab LAB_ARGS="--no-browser --port=8899"
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

# JupyterLab opens the students' copies in workspace/ (course workspace), never the validated notebooks.
lab: setup
	@$(VENV)/bin/course workspace --dir "$(WORKSPACE)" | tail -1
	$(VENV)/bin/jupyter lab --notebook-dir="$(WORKSPACE)" $(ROOT_FLAG) $(LAB_ARGS)

test: setup
	$(PY) -m pytest -n $(JOBS) --dist loadfile tests
	COURSE_HEADLESS=1 $(PY) -m pytest -n $(JOBS) --dist loadfile --nbval --nbval-current-env \
	    --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=$(NBVAL_CELL_TIMEOUT) \
	    -p tests.nbval_patience -p no:randomly lectures solutions
	$(VENV)/bin/course assign --check
	$(VENV)/bin/course validate

test-fast: setup
	$(PY) -m pytest -n $(JOBS) --dist loadfile -m "not slow" tests

notebooks: setup
	$(VENV)/bin/course nb run lectures/*.ipynb solutions/*.ipynb
	$(VENV)/bin/course assign

assign: setup
	$(VENV)/bin/course assign

lock: setup
	$(PY) -m pip freeze --exclude-editable | sed 's/^torch==2.13.0+cpu/torch==2.13.0/' \
	    | { echo "# Pinned versions for the whole course environment (pip install -c requirements/constraints.txt ...)."; echo "# Regenerate with: make lock"; cat; } > requirements/constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
