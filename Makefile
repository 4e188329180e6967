# Two commands for a fresh machine: `make demo` opens JupyterLab on the notebooks,
# `make test` runs lint, type checks and the test suite. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.PHONY: demo test lint typecheck bench install-test install-lab clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

install-test: $(BIN)/python
	$(PIP) install --quiet -e ".[test]"

install-lab: $(BIN)/python
	$(PIP) install --quiet -e ".[lab]"

demo: install-lab
	$(BIN)/jupyter lab --notebook-dir=notebooks

lint: install-test
	$(BIN)/ruff check agent_kernel tests benchmarks
	$(BIN)/ruff format --check agent_kernel tests benchmarks

typecheck: install-test
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest

bench: install-test
	$(BIN)/python benchmarks/bench_load_ext.py
	$(BIN)/python benchmarks/bench_step_overhead.py
	$(BIN)/python benchmarks/bench_tools.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
