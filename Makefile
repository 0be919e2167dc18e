# One-command setup for the course. Everything lives in .venv/ at the repository root.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.course-installed
KERNEL := course-cnn-rnn
JOBS   ?= 2

WORKSPACE ?= $(CURDIR)/workspace
NBVAL_CELL_TIMEOUT ?= 900

.PHONY: setup lab test test-full test-kernels test-fast gpu-check notebooks assign lock clean site binder-render

# A .venv built with another Python (or whose Python is gone) would fail in obscure ways forever: say so,
# before anything runs (checked when the makefile is read, so `make -q setup` still works; not for `make clean`).
IS_311 := import sys; sys.exit(sys.version_info[:2] != (3, 11))
ifeq ($(filter clean,$(MAKECMDGOALS)),)
ifneq ($(wildcard $(VENV)),)
ifneq ($(shell $(PY) -c '$(IS_311)' 2>/dev/null && echo ok),ok)
$(info error: $(VENV)/ was built with $(or $(shell $(PY) --version 2>/dev/null),a Python that no longer runs), not Python 3.11.)
$(info Remove it with 'make clean', then run again with a Python 3.11: make PYTHON=/path/to/python3.11 $(MAKECMDGOALS))
$(error see README, 'Quick start', for getting Python 3.11 with uv, pyenv or conda)
endif
else ifneq ($(shell $(PYTHON) -c '$(IS_311)' 2>/dev/null && echo ok),ok)
$(info error: the course needs Python 3.11, and '$(PYTHON)' is $(or $(shell $(PYTHON) --version 2>/dev/null),not installed).)
$(info Install Python 3.11, then: make PYTHON=/path/to/python3.11 $(MAKECMDGOALS))
$(error see README, 'Quick start', for getting Python 3.11 with uv, pyenv or conda)
endif
endif

setup: $(STAMP)

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

# nbval over notebooks: fresh outputs must match the committed ones (sanitizers in tests/nbval_sanitize.cfg).
NBVAL = COURSE_HEADLESS=1 $(PY) -m pytest -n $(JOBS) --dist loadfile --nbval --nbval-current-env \
	    --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=$(NBVAL_CELL_TIMEOUT) \
	    -p tests.nbval_patience -p no:randomly

test: setup
	$(PY) -m pytest -n $(JOBS) --dist loadfile -m "not full" tests
	$(VENV)/bin/course cnn    # the shipped course CNNs of units 1, 2 and 7 (data/cnn/, checksums verified)
	$(NBVAL) lectures solutions
	$(VENV)/bin/course assign --check
	$(VENV)/bin/course validate

# The heavier checks (whole-batch grading under memory limits, platform bundles, the site in a browser, ...).
test-full: setup
	$(PY) -m pytest -n $(JOBS) --dist loadfile -m full tests

# The committed outputs hold on every CPU: nbval again under OpenBLAS's and ATen's generic kernels, OpenBLAS's
# native kernel for this CPU (its variables unset), and the Haswell/AVX2 kernels.
test-kernels: setup
	env OPENBLAS_CORETYPE=Prescott ATEN_CPU_CAPABILITY=default $(NBVAL) lectures solutions
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(NBVAL) lectures solutions
	env OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 $(NBVAL) lectures solutions

# Every PyTorch path of the course on CUDA against the CPU, within stated tolerances, times side by side
# (README, "GPU check"); one line and exit 0 without CUDA. GPU_CHECK_ARGS="--quick", "--device cpu", "--json F".
gpu-check: setup
	@$(PY) -m course_utils.gpu_check $(GPU_CHECK_ARGS)

test-fast: setup
	$(PY) -m pytest -n $(JOBS) --dist loadfile -m "not slow and not full" tests

notebooks: setup
	$(VENV)/bin/course nb run lectures/*.ipynb solutions/*.ipynb
	$(VENV)/bin/course assign

assign: setup
	$(VENV)/bin/course assign

lock: setup
	$(PY) -m pip freeze --exclude-editable | sed 's/^torch==2.13.0+cpu/torch==2.13.0/' \
	    | { echo "# Pinned versions for the whole course environment (pip install -c requirements/constraints.txt ...)."; echo "# Regenerate with: make lock"; cat; } > requirements/constraints.txt

# The course website (Jupyter Book 1.x) from the committed outputs, never executing a notebook: _build/html/.
# MathJax comes from npm (site/package-lock.json) and is copied into the site, so it works offline afterwards.
# HUB_URL / REPO_URL / BRANCH override the launch buttons' addresses of site/_config.yml.
site: setup
	@test -f site/node_modules/mathjax/es5/tex-mml-chtml.js || npm ci --prefix site --no-audit --no-fund
	$(PY) site/build_site.py $(if $(HUB_URL),--hub-url "$(HUB_URL)") $(if $(REPO_URL),--repo-url "$(REPO_URL)") \
	    $(if $(BRANCH),--branch "$(BRANCH)")

# The Dockerfile repo2docker would build from binder/ (Binder, JupyterHub images), rendered without building.
binder-render: setup
	@mkdir -p build
	$(VENV)/bin/jupyter-repo2docker --no-build --no-run --debug --user-id 1000 --user-name jovyan . \
	    | sed -n '/^FROM /,$$p' > build/binder.Dockerfile
	@grep -q 'binder/postBuild' build/binder.Dockerfile && echo "rendered: build/binder.Dockerfile"

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
