# Two entry points (see README): `make demo` runs the main job, `make test` the test suite.
PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: install demo test test-all lint format bench

.install-stamp: pyproject.toml
	# torch first, pinned: this takes the local CPU wheel instead of several GB of CUDA builds.
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[dev]"
	touch .install-stamp

install: .install-stamp

demo: install
	hazard-harness run experiments/scenarios/demo.yaml --out runs/demo --pixel-days 1

test: install
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m pytest -m "not slow" -q

test-all: install
	$(PYTHON) -m pytest -q

lint:
	$(PYTHON) -m ruff check . && $(PYTHON) -m ruff format --check .

format:
	$(PYTHON) -m ruff check --fix . && $(PYTHON) -m ruff format .
