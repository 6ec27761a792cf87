# The two-command quick start. `make demo` installs what the demo needs (the `cli` extra: no
# torch, no test stack) and trains a network; `make test` adds the test stack and the oracle
# to the same .venv and runs the suite. Each step is redone only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.demo-installed
TEST_STAMP := $(VENV)/.test-installed
PIP := $(BIN)/pip install -q --disable-pip-version-check
# This machine keeps the CPU build of torch (the test oracle) in /opt/wheels: installed first
# by name, so the test extra's torch range is already met and nothing (no CUDA build) is fetched.
TORCH_WHEEL := $(firstword $(wildcard /opt/wheels/torch-*+cpu-*.whl))

.PHONY: demo test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	@echo "make: installing chainrule[cli] into $(VENV) (numpy, scikit-learn, matplotlib, typer, rich; no torch): about a minute"
	$(PIP) -e '.[cli]'
	@touch $@

$(TEST_STAMP): pyproject.toml $(DEMO_STAMP)
	@echo "make: adding the test stack to $(VENV) (pytest, hypothesis, ruff, mypy, pandas, and torch as the oracle)"
	$(if $(TORCH_WHEEL),$(PIP) '$(TORCH_WHEEL)')
	$(PIP) -e '.[test]'
	@touch $@

demo: $(DEMO_STAMP)
	$(BIN)/chainrule train --save digits.model
	@echo
	@echo "next: $(BIN)/chainrule --help   (or: source $(BIN)/activate, then chainrule --help)"

test: $(TEST_STAMP)
	$(BIN)/python -m pytest

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(TEST_STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: $(TEST_STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
