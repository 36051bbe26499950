# The two commands a new user needs: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint bench sandbox clean

$(STAMP): pyproject.toml sandbox/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]' -e ./sandbox
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/b24-1c demo

# PYTEST_WORKERS=0 runs the suite in one process (-n 0); the default uses every core.
PYTEST_WORKERS ?= auto

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) -m ''

lint: $(STAMP)
	$(BIN)/ruff check connector sandbox tests benchmarks
	$(BIN)/ruff format --check connector sandbox tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# Throughput, exactly-once and memory figures (several minutes; see benchmarks/README.md).
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_bitrix24_emulator.py
	$(BIN)/python benchmarks/bench_writes.py
	$(BIN)/python benchmarks/bench_lost_replies.py
	$(BIN)/python benchmarks/bench_keyset_read.py
	$(BIN)/python benchmarks/bench_operating_time.py
	$(BIN)/python benchmarks/bench_onec_read.py --n 20000

sandbox: $(STAMP)
	$(BIN)/b24-1c sandbox

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
