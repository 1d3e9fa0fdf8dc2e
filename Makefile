# Entry points of the project; each one sets up .venv first (seconds when it is ready).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?= -m "not slow"
SNAKE_ARGS ?=

.PHONY: setup test test-all smoke lint bench help

help:
	@echo "make smoke     set up .venv and run the whole pipeline on synthetic data on CPU (tables in results/smoke)"
	@echo "make test      set up .venv and run the fast tests"
	@echo "make test-all  the fast tests and the slow end-to-end ones (what CI runs)"
	@echo "make lint      hadolint, shellcheck and the static checks of the paper environment"
	@echo "make bench     the benchmarks under benchmarks/"

setup:
	@bash scripts/setup_env.sh

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-all: setup
	$(PY) -m pytest -m "slow or not slow"

smoke: setup
	$(VENV)/bin/snakemake --profile workflow/profiles/smoke $(SNAKE_ARGS)
	@echo "smoke tables: results/smoke/"

bench: setup
	$(PY) benchmarks/neck_cost.py
