# Entry points of the project; each one sets up .venv first (seconds when it is ready).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?= -m "not slow"
SNAKE_ARGS ?=

.PHONY: setup test test-all smoke report bench help

help:
	@echo "make smoke     set up .venv and run the whole pipeline on synthetic data on CPU (tables in results/smoke)"
	@echo "make test      set up .venv and run the fast tests"
	@echo "make test-all  the fast tests and the slow end-to-end ones (what CI runs)"
	@echo "make report    the Snakemake HTML report of the smoke run (results/smoke/report.html)"
	@echo "make bench     the benchmarks under benchmarks/ (minutes to an hour on 2 cores)"

setup:
	@bash scripts/setup_env.sh

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-all: setup
	$(PY) -m pytest -m "slow or not slow"

smoke: setup
	$(VENV)/bin/snakemake --profile workflow/profiles/smoke $(SNAKE_ARGS)
	@cat results/smoke/tables.md
	@echo "smoke tables: results/smoke/tables.md (figures: results/smoke/*.png; HTML report: make report)"

report: setup
	$(VENV)/bin/snakemake --profile workflow/profiles/smoke --report results/smoke/report.html

bench: setup
	$(PY) benchmarks/neck_cost.py
	$(PY) benchmarks/smoke_learns.py
	$(PY) benchmarks/workflow_time.py
