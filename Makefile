# Quivive developer entry points. `make run` serves; `make test` is what CI runs.
# Each target installs what it needs first, and does nothing more when nothing changed.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstall whenever pyproject.toml (dependencies, entry points) is newer than the stamp.
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
CHECKED := src tests bench examples
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run test lint bench clean system-deps

run: $(RUN_STAMP)
	exec $(BIN)/quivive serve \
		$${QUIVIVE_HOST:+--host "$$QUIVIVE_HOST"} $${QUIVIVE_PORT:+--port "$$QUIVIVE_PORT"}

test: lint system-deps
	$(BIN)/python -m pytest -p no:cacheprovider -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/ruff format --check $(CHECKED)
	$(BIN)/mypy
	$(BIN)/mypy bench examples

bench: $(RUN_STAMP) system-deps
	$(BIN)/python -m bench $(BENCH_ARGS)

# chromium, nginx and wrk from Debian (as root; otherwise it only warns).
system-deps:
	@scripts/install-system-deps.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis src/*.egg-info
	find src tests bench -name __pycache__ -type d -prune -exec rm -rf {} +

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

# The test install includes the run install, so it refreshes both stamps.
$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	touch $@ $(RUN_STAMP)
