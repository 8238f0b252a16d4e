# runpod-facade — every target bootstraps its own virtualenv on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help install demo test unit lint typecheck regen regen-check spec-check bench interop clean \
  coverage mutation reliability

# Python may cache bytecode here even where the environment says not to: every pytest-xdist
# worker and every subprocess a test starts imports the same modules, and compiling them
# afresh each time costs seconds per process (__pycache__ is git-ignored).
unexport PYTHONDONTWRITEBYTECODE

help:
	@echo "make demo         the SDK driving a local endpoint (or the real API with RUNPOD_API_KEY + RUNPOD_ENDPOINT_ID)"
	@echo "make test         regen check, spec validation, ruff, mypy --strict, then the test suite"
	@echo "make reliability  only the tests that measure docs/reliability.md, and rewrite it"
	@echo "make bench        side-by-side benchmarks, written to benchmarks/results.md (~12 min;"
	@echo "                  BENCH_ARGS='--quick --only throughput' for a partial run to stdout)"
	@echo "make interop      the official runpod-python client against the local endpoint"
	@echo "make regen        regenerate generated/ from openapi/"
	@echo "make coverage     the test suite with line and branch coverage of runpod_facade"
	@echo "make mutation     mutation testing of the core (slow, not in CI; docs/mutation.md)"

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
	$(VENV)/bin/openapi-spec-validator openapi/runpod-serverless.yaml openapi/runpod-batch-jobs.yaml

lint: $(STAMP)
	$(VENV)/bin/ruff check runpod_facade _runpod_facade_pytest.py tests examples benchmarks
	$(VENV)/bin/ruff format --check runpod_facade _runpod_facade_pytest.py
	$(VENV)/bin/lint-imports --no-cache

# mypy --strict on the package; the benchmarks and examples too (their optional imports,
# runpod and matplotlib, live in other venvs), so an API change cannot leave them behind.
typecheck: $(STAMP)
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --ignore-missing-imports benchmarks examples

# The suite on pytest-xdist workers: more workers than cores, since many tests wait on sockets
# and timers; worksteal rebalances the long ones. It also rewrites docs/reliability.md, and
# fails if the run could not (tests/_support/reliability/plugin.py).
TEST_WORKERS ?= 5
PYTEST_XDIST := -n $(TEST_WORKERS) --dist worksteal

unit: $(STAMP)
	$(PY) -m pytest $(PYTEST_XDIST) --reliability-report=require

test: regen-check spec-check lint typecheck unit interop

# The tests whose measurements docs/reliability.md shows, and nothing else (about a third of the
# suite's time); the report is rewritten only if all of them ran and passed. Its Misuse section
# needs every test file that uses @pytest.mark.misuse(kind): MISUSE_TESTS finds them by that
# text, as the report does (tests/_support/reliability/render.py, misuse_sources), so a new
# file is picked up without being listed here.
MISUSE_MARK  := 'pytest\.mark\.misuse[(]'
MISUSE_TESTS := $(shell grep -rlE --include='test_*.py' $(MISUSE_MARK) tests)
RELIABILITY_TESTS := $(sort tests/core/test_fault_cells.py tests/integration/test_fault_cells.py \
  tests/integration/test_promises.py tests/integration/test_load.py \
  tests/integration/test_secrets.py tests/facade/test_bad_input.py tests/local/test_bad_requests.py \
  $(MISUSE_TESTS))

reliability: $(STAMP)
	$(PY) -m pytest $(PYTEST_XDIST) --reliability-report=require $(RELIABILITY_TESTS)

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

# The official runpod-python Endpoint client, unmodified, against the local endpoint (part of
# `make test`; it needs the benchmark environment, where runpod-python is installed).
interop: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m pytest -q -p no:cacheprovider \
	  tests/local/test_local_runpod_python.py

clean:
	rm -rf $(VENV) .venv-gen $(BENCH_VENV) .venv-bench-import .venv-mutation .pytest_cache .mypy_cache .ruff_cache

# Line and branch coverage of runpod_facade over the suite (HTML in reports/coverage). The
# load tests are left out: their wall-clock bounds do not hold under coverage's tracing.
coverage: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider --ignore=tests/integration/test_load.py --cov=runpod_facade --cov-branch \
	  --cov-report=term --cov-report=html:reports/coverage

# Mutation testing of the sans-IO core with mutmut, in its own venv (not in CI: ~1 h on two
# cores). Tests: tests/core + tests/facade + tests/contract (see [tool.mutmut] in pyproject).
# Incremental: mutmut re-tests only what changed; `rm -rf mutants` starts afresh.
MUT_VENV  := .venv-mutation
MUT_STAMP := $(MUT_VENV)/.installed
MUTATION_JOBS ?= 2

$(MUT_STAMP): pyproject.toml
	test -x $(MUT_VENV)/bin/python || $(PYTHON) -m venv $(MUT_VENV)
	$(MUT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(MUT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,mutation]'
	touch $(MUT_STAMP)

mutation: $(MUT_STAMP)
	$(MUT_VENV)/bin/mutmut run --max-children $(MUTATION_JOBS) > /dev/null
	$(MUT_VENV)/bin/python scripts/mutation_report.py
