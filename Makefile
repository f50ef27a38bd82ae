# citygate: `make demo` runs a simulated city end to end; `make test` runs the whole suite.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all setup services venv test lint typecheck pytest demo bench clean

all: test

setup: services venv

services:
	bash scripts/setup-services

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest

# The whole suite: lint, types, then tests against real PostgreSQL+TimescaleDB and Mosquitto.
test: setup lint typecheck pytest

demo: setup
	$(BIN)/citygate demo

# Benchmarks (minutes, loopback only); their figures are recorded in docs/performance.md.
bench: setup
	$(BIN)/python -m bench.pipeline_cost
	$(BIN)/python -m bench.row_layout
	$(BIN)/python -m bench.ingest_throughput --workers 2
	$(BIN)/python -m bench.api_latency
	$(BIN)/python -m bench.api_cost
	$(BIN)/python -m bench.rules_cost
	$(BIN)/python -m bench.rules_overhead

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
