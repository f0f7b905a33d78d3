# The one entry point for set-up, demo, lint and tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: set up and run Clove on the embedded default (a SQLite file, no server)
demo: $(STAMP)
	$(BIN)/clove demo --db sqlite://clove-demo.db

## test: the whole test suite (conformance data from ../shared/conformance)
test: $(STAMP)
	$(BIN)/pytest -q

## lint: ruff and mypy (strict on src/)
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

## check: lint and test, as CI runs them
check: lint test

## bench: in-process check benchmark (see benchmarks/README.md for the SpiceDB peer)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_check.py

clean:
	rm -rf $(VENV) clove-demo.db .pytest_cache .mypy_cache .ruff_cache
