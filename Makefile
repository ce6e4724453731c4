# Two commands on a fresh machine with Python 3.11+ and make: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test lint slow bench samples clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,serve,spark]'
	touch $@ $(STAMP)

demo: $(STAMP)
	@bash scripts/demo.sh $(BIN)

test: $(TEST_STAMP)
	@bash scripts/ensure_chromium.sh
	@bash scripts/ensure_manifest_validators.sh $(VENV)/manifest-validators
	$(BIN)/ruff check rollctl tests scripts
	$(BIN)/mypy
	$(BIN)/python -m pytest

slow: $(TEST_STAMP)
	$(BIN)/python -m pytest -m slow -q

bench: $(TEST_STAMP)
	$(BIN)/python -m pytest -m bench -q -s

samples: $(TEST_STAMP)
	$(BIN)/python scripts/make_sample_traces.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
