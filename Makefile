# Neural Networks from Scratch: every target sets up .venv on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The interpreter .venv is made with: the first of these found, or PYTHON=... on the command line.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 \
	|| command -v python3)
# The oldest Python coursekit supports (pyproject.toml's requires-python; a test keeps them equal).
PYTHON_MIN := 3.11
VENV := .venv
BIN := $(VENV)/bin
# Re-installed whenever pyproject.toml or the lock changes.
STAMP := $(VENV)/.installed
# Exact versions of everything installed (made by `make lock`), so stored outputs repeat.
LOCK := constraints.txt
# The torch release the lock is made with (pip takes the CPU build where one is on the index).
TORCH_VERSION := 2.13.0
LOCK_VENV := build/lock-venv
# JupyterLab settings for this environment only (no "Jupyter news?" pop-up, no update checks).
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

# Identical floats on every run: one thread everywhere, no progress bars, fixed hashing.
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export TQDM_DISABLE := 1
export PYTHONHASHSEED := 0
unexport MPLBACKEND

# Before anything uses .venv: refuse an unsupported PYTHON, and remove a .venv that is broken,
# made by an unsupported Python, or made by another interpreter than the PYTHON asked for
# (it is then rebuilt). tools/check_venv.sh says what it does and what to run.
NO_VENV_GOALS := help clean distclean lock
ifneq ($(filter-out $(NO_VENV_GOALS),$(or $(MAKECMDGOALS),$(.DEFAULT_GOAL))),)
VENV_CHECK := $(shell bash tools/check_venv.sh "$(PYTHON)" "$(VENV)" "$(PYTHON_MIN)" "$(origin PYTHON)")
ifneq ($(lastword $(VENV_CHECK)),ok)
$(error stopped before setting up $(VENV): see the message above)
endif
endif

LESSONS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
NBVAL_FLAGS := --nbval --nbval-current-env \
	--nbval-sanitize-with notebooks/nbval_sanitize.cfg --nbval-cell-timeout=300 \
	--nbval-kernel-startup-timeout=180

# JupyterLab: loopback only; no browser without a display; --allow-root when run as root.
LAB_PORT ?= 8888
# Students work in WORKSPACE: student editions that `coursekit workspace` adds on every
# `make lab` and never overwrites. EDITION=instructor opens notebooks/ (solutions shown).
# make e2e serves a temporary copy of the lessons (LAB_DIR) and adds flags (LAB_EXTRA).
EDITION ?= student
WORKSPACE ?= workspace
ifeq ($(EDITION),instructor)
LAB_DIR ?= notebooks
else ifeq ($(EDITION),student)
LAB_DIR ?= $(WORKSPACE)
else
$(error EDITION must be student or instructor, got '$(EDITION)')
endif
LAB_FLAGS := --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) --notebook-dir=$(LAB_DIR) \
	--LabApp.news_url=None
ifeq ($(shell id -u),0)
LAB_FLAGS += --allow-root
endif
ifeq ($(DISPLAY)$(WAYLAND_DISPLAY)$(filter Darwin,$(shell uname -s)),)
LAB_FLAGS += --no-browser
endif

.PHONY: help lab test test-slow test-all unit nbval nbval-variants execute lint sync student grade bench bench-tests html e2e lock clean distclean

help:
	@echo "make lab       start JupyterLab on your workspace of student editions (sets up .venv"
	@echo "               on first use; EDITION=instructor opens notebooks/ with the solutions)"
	@echo "make test      unit tests + strict nbval over every lesson (about 3 min)"
	@echo "make test-slow the slow tests: lessons with valid versions, sandboxed grading, nbgrader"
	@echo "make test-all  both (what CI runs, with make lint and make e2e)"
	@echo "make execute   regenerate every lesson's outputs in the test environment"
	@echo "make nbval-variants  strict nbval under other CPUs' kernels (VARIANTS=... for some)"
	@echo "make lint      ruff over the package, tests and lessons; mypy over coursekit/;"
	@echo "               the lessons and README in step with syllabus.toml"
	@echo "make sync      write syllabus.toml's points, nbgrader metadata and the README map"
	@echo "make student   write student editions to build/student/"
	@echo "make grade SUBMISSIONS=dir   grade a folder of submitted notebooks"
	@echo "make bench     benchmarks: lessons, coursekit.scratch, grading a class (about 10 min;"
	@echo "               ONLY=class-grading for one, QUICK=1 for small batches)"
	@echo "make bench-tests  how long make test's phases and make test-slow take"
	@echo "make html      the student site in build/html/: lessons with their outputs, exercises"
	@echo "               as stubs, no solution (EDITION=instructor: build/html-instructor/)"
	@echo "make e2e       run a lesson in JupyterLab in headless Chromium (E2E_LESSONS=all for every one)"
	@echo "make lock      refresh constraints.txt, the exact versions every target installs"
	@echo "make clean     remove build outputs and caches (make distclean also drops .venv)"

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -c $(LOCK) -e . \
		|| { echo "make: installing into $(VENV) failed (see above); fix that and run make" \
		"again, or start over with: make distclean"; exit 1; }
	@touch $@

$(LAB_SETTINGS): tools/lab_overrides.json $(STAMP)
	@mkdir -p $(@D)
	cp tools/lab_overrides.json $@

lab: $(STAMP) $(LAB_SETTINGS)
ifeq ($(LAB_DIR),$(WORKSPACE))
	$(BIN)/python -m coursekit workspace --out $(WORKSPACE) $(LESSONS)
endif
	$(BIN)/jupyter lab $(LAB_FLAGS) $(LAB_EXTRA)

# Unit tests on 2 workers; tests sharing an expensive fixture stay together (loadgroup,
# marked in tests/conftest.py).
UNIT_FLAGS := -n 2 --dist loadgroup

# make test: the unit tests not marked slow, then strict nbval over every lesson (about 3 min
# on 2 cores). make test-slow: the slow ones (whole lessons run with the tests' valid
# versions, sandboxed grading of every lesson and of the hostile suite, nbgrader). CI runs
# both (.ci/run); make test-all does too. Each target runs all its pytest runs and fails if
# any fails.
test: $(STAMP)
	@bash tools/install_optional.sh bwrap bubblewrap
	@status=0; \
	$(BIN)/python -m pytest $(UNIT_FLAGS) -m "not slow" tests || status=1; \
	$(BIN)/python -m pytest -p no:randomly -n 2 --dist loadfile $(NBVAL_FLAGS) $(LESSONS) || status=1; \
	exit $$status

test-slow: $(STAMP)
	@bash tools/install_optional.sh bwrap bubblewrap
	@bash tools/install_optional.sh slurmctld slurm-wlm munge
	$(BIN)/python -m pytest $(UNIT_FLAGS) -m slow tests

test-all:
	@status=0; $(MAKE) test || status=1; $(MAKE) test-slow || status=1; exit $$status

unit: $(STAMP)
	@bash tools/install_optional.sh bwrap bubblewrap
	$(BIN)/python -m pytest $(UNIT_FLAGS) -m "not slow" tests

nbval: $(STAMP)
	$(BIN)/python -m pytest -p no:randomly -n 2 --dist loadfile $(NBVAL_FLAGS) $(LESSONS)

# Strict nbval under other machines' CPU kernels (tools/kernel_variants.py; make test-slow runs
# it too): run before committing outputs that make execute changed. VARIANTS="a b" picks some.
nbval-variants: $(STAMP)
	$(BIN)/python tools/kernel_variants.py $(foreach v,$(VARIANTS),--variant $(v)) $(LESSONS)

execute: $(STAMP)
	$(BIN)/python -m coursekit execute $(LESSONS)

# ruff everywhere; mypy over coursekit/ (configured in pyproject.toml's [tool.mypy]); the
# lessons and README in step with syllabus.toml (make sync).
lint: $(STAMP)
	@status=0; \
	$(BIN)/ruff check coursekit tests e2e benchmarks tools notebooks || status=1; \
	$(BIN)/mypy || status=1; \
	$(BIN)/python -m coursekit sync --check || status=1; \
	exit $$status

# What syllabus.toml decides, written where it is used: each check cell's points, nbgrader's
# metadata, the README's course map (make lint checks it is in step; commit what it changes).
sync: $(STAMP)
	$(BIN)/python -m coursekit sync

# Brings the lessons in step with the syllabus first (commit any change it makes).
student: sync
	rm -rf build/student
	$(BIN)/python -m coursekit student --out build/student $(LESSONS)

grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=<folder of notebooks>"; exit 2; }
	@bash tools/install_optional.sh bwrap bubblewrap
	$(BIN)/python -m coursekit grade --out build $(SUBMISSIONS)

# Every benchmark, each reporting even when another misses a goal (ONLY=class-grading for one,
# QUICK=1 for the smallest batches); the exit status says whether any failed or missed.
bench: $(STAMP)
	@bash tools/install_optional.sh bwrap bubblewrap
	$(BIN)/python benchmarks/all.py $(if $(ONLY),--only $(ONLY)) $(if $(QUICK),--quick)

# make test's phases and make test-slow, timed (about 20 min on 2 cores).
bench-tests: $(STAMP)
	$(BIN)/python benchmarks/test_suites.py

html: $(STAMP)
	$(BIN)/python tools/course_html.py --edition $(EDITION)

e2e: $(STAMP)
	bash tools/e2e.sh $(E2E_LESSONS)

# A fresh venv from the ranges in pyproject.toml (newest versions allowed, torch at
# TORCH_VERSION), then `pip freeze` of it, checked to install on Python 3.12 and 3.13 too.
# Commit constraints.txt after `make test` passes.
lock:
	rm -rf $(LOCK_VENV)
	@bash tools/check_venv.sh "$(PYTHON)" "$(LOCK_VENV)" "$(PYTHON_MIN)" "$(origin PYTHON)" >/dev/null
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --disable-pip-version-check -q -e . \
		"torch==$(TORCH_VERSION)"
	$(LOCK_VENV)/bin/python tools/lock.py $(LOCK_VENV)/bin/python > $(LOCK).new
	$(LOCK_VENV)/bin/python tools/lock.py --check $(LOCK).new 3.12 3.13
	mv $(LOCK).new $(LOCK)
	@echo "wrote $(LOCK): $$(grep -c '==' $(LOCK)) packages"

clean:
	rm -rf build .pytest_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -print0 \
		| xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV)
