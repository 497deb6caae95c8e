# Neural Networks from Scratch: every target sets up .venv on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Re-installed whenever pyproject.toml changes.
STAMP := $(VENV)/.installed

# Identical floats on every run: one thread everywhere, no progress bars, fixed hashing.
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export TQDM_DISABLE := 1
export PYTHONHASHSEED := 0
unexport MPLBACKEND

LESSONS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
NBVAL_FLAGS := --nbval --nbval-current-env \
	--nbval-sanitize-with notebooks/nbval_sanitize.cfg --nbval-cell-timeout=300 \
	--nbval-kernel-startup-timeout=180

# JupyterLab: loopback only; no browser without a display; --allow-root when run as root.
LAB_PORT ?= 8888
# make e2e serves a temporary copy of the lessons (LAB_DIR) and adds flags (LAB_EXTRA).
LAB_DIR ?= notebooks
LAB_FLAGS := --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) --notebook-dir=$(LAB_DIR)
ifeq ($(shell id -u),0)
LAB_FLAGS += --allow-root
endif
ifeq ($(DISPLAY)$(WAYLAND_DISPLAY)$(filter Darwin,$(shell uname -s)),)
LAB_FLAGS += --no-browser
endif

.PHONY: help lab test unit nbval execute lint student grade bench html e2e clean distclean

help:
	@echo "make lab       start JupyterLab on the lessons (sets up .venv on first use)"
	@echo "make test      unit tests + strict nbval over every lesson"
	@echo "make execute   regenerate every lesson's outputs in the test environment"
	@echo "make lint      ruff over the package, tests and lessons"
	@echo "make student   write student editions to build/student/"
	@echo "make grade SUBMISSIONS=dir   grade a folder of submitted notebooks"
	@echo "make bench     benchmarks (coursekit.scratch and every lesson)"
	@echo "make html      render the course to build/html/"
	@echo "make e2e       run a lesson in JupyterLab in headless Chromium (E2E_LESSONS=all for every one)"
	@echo "make clean     remove build outputs and caches (make distclean also drops .venv)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e .
	@touch $@

lab: $(STAMP)
	$(BIN)/jupyter lab $(LAB_FLAGS) $(LAB_EXTRA)

# Two pytest runs; the target fails if either fails, and always runs both.
test: $(STAMP)
	@bash tools/install_bubblewrap.sh
	@status=0; \
	$(BIN)/python -m pytest tests || status=1; \
	$(BIN)/python -m pytest -p no:randomly -n 2 --dist loadfile $(NBVAL_FLAGS) $(LESSONS) || status=1; \
	exit $$status

unit: $(STAMP)
	@bash tools/install_bubblewrap.sh
	$(BIN)/python -m pytest tests

nbval: $(STAMP)
	$(BIN)/python -m pytest -p no:randomly -n 2 --dist loadfile $(NBVAL_FLAGS) $(LESSONS)

execute: $(STAMP)
	$(BIN)/python -m coursekit.runner $(LESSONS)

lint: $(STAMP)
	$(BIN)/ruff check coursekit tests e2e benchmarks tools notebooks

student: $(STAMP)
	rm -rf build/student
	$(BIN)/python -m coursekit student --out build/student $(LESSONS)

grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=<folder of notebooks>"; exit 2; }
	@bash tools/install_bubblewrap.sh
	$(BIN)/python -m coursekit grade --out build $(SUBMISSIONS)

bench: $(STAMP)
	$(BIN)/python benchmarks/course.py
	$(BIN)/python benchmarks/grading.py
	$(BIN)/python benchmarks/conv.py

html: $(STAMP)
	$(BIN)/python tools/course_html.py

e2e: $(STAMP)
	bash tools/e2e.sh $(E2E_LESSONS)

clean:
	rm -rf build .pytest_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -print0 \
		| xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV)
