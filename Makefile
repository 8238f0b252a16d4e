# runpod-facade — every target bootstraps its own virtualenv on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help install demo test unit lint typecheck regen regen-check spec-check bench interop clean

help:
	@echo "make demo         the SDK driving a local endpoint (or the real API with RUNPOD_API_KEY + RUNPOD_ENDPOINT_ID)"
	@echo "make test         regen check, spec validation, ruff, mypy --strict, then the test suite"
	@echo "make bench        side-by-side benchmarks, written to benchmarks/results.md (6-7 min;"
	@echo "                  BENCH_ARGS='--quick --only throughput' for a partial run to stdout)"
	@echo "make interop      the official runpod-python client against the local endpoint"
	@echo "make regen        regenerate generated/ from openapi/"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m runpod_facade.demo

regen:
	scripts/regen.sh

regen-check:
	scripts/regen.sh --check

spec-check: $(STAMP)
	$(VENV)/bin/openapi-spec-validator openapi/runpod-serverless.yaml

lint: $(STAMP)
	$(VENV)/bin/ruff check runpod_facade tests examples benchmarks
	$(VENV)/bin/ruff format --check runpod_facade

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest

test: regen-check spec-check lint typecheck unit

# runpod-python (the peer measured against) and matplotlib (the chart) live only in the
# benchmark environment. The import-time benchmark builds its own clean venv,
# .venv-bench-import/, with nothing but runpod-facade and its runtime dependencies.
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_PINS  := 'runpod==1.12.0' 'matplotlib==3.11.2' \
               'pytest==9.2.0' 'pytest-asyncio==1.5.0' 'pytest-timeout==2.4.0'
BENCH_ARGS  ?=

$(BENCH_STAMP): pyproject.toml Makefile
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[local]' $(BENCH_PINS)
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m benchmarks $(BENCH_ARGS)

# The official runpod-python Endpoint client against the local endpoint (opt-in interop check).
interop: $(BENCH_STAMP)
	RUNPOD_FACADE_TEST_RUNPOD_PYTHON=1 $(BENCH_VENV)/bin/python -m pytest -q -p no:cacheprovider \
	  tests/local/test_local_runpod_python.py

clean:
	rm -rf $(VENV) .venv-gen $(BENCH_VENV) .venv-bench-import .pytest_cache .mypy_cache .ruff_cache
