# One-command setup for the course. Everything lives in .venv/ at the repository root.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.course-installed
KERNEL := course-cnn-rnn
JOBS   ?= 2

.PHONY: setup lab test test-fast notebooks assign lock clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python 3 (CNN & RNN course)" > /dev/null
	@touch $(STAMP)
	@echo "course environment ready in $(VENV)/ (kernel: $(KERNEL))"

# LAB_ARGS passes options to JupyterLab, e.g. make lab LAB_ARGS="--no-browser --port=8899"
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup
	$(VENV)/bin/jupyter lab --notebook-dir="$(CURDIR)" $(ROOT_FLAG) $(LAB_ARGS)

test: setup
	$(PY) -m pytest -n $(JOBS) --dist loadfile tests
	COURSE_HEADLESS=1 $(PY) -m pytest -n $(JOBS) --dist loadfile --nbval --nbval-current-env \
	    --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:randomly lectures solutions
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
