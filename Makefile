# Farcaster: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install demo test lint typecheck unit bench clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## Create .venv and install Farcaster with its dev tools

demo: $(STAMP)  ## Run the whole path on SQLite and the local GitHub emulator
	$(BIN)/farcaster demo

lint: $(STAMP)  ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)  ## mypy --strict on bot/, webhooks/, proposals/
	$(BIN)/mypy

unit: $(STAMP)  ## Only the unit tests (pure: no database, no process)
	$(BIN)/pytest -q tests/unit

# Four pytest workers on any machine: most end-to-end time is spent waiting on real
# processes (leases, polls, the emulator), so more workers than cores still pays.
TEST_WORKERS ?= 4

test: lint typecheck  ## Install, lint, type-check and run every test (SQLite and PostgreSQL)
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal

bench: $(STAMP)  ## Run the benchmarks (see bench/README.md)
	$(BIN)/python bench/claim.py

clean:  ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
