# Entry points of the project; each one sets up .venv first (seconds when it is ready).
VENV ?= .venv
PY := $(VENV)/bin/python
PAPER_VENV ?= .venv-paper
PAPER_PY := $(PAPER_VENV)/bin/python
# Rows of the paper-stack smoke DAG: Sum-Up, an AFA row and Deformable-DETR (every stage, every model family).
PAPER_SMOKE_ROWS ?= [cmrcn_r50_sumup_1x,cmrcn_r50_mssa_adp_1x,ddetr_r50_1x]
PYTEST_ARGS ?= -m "not slow"
# Tests run in TEST_WORKERS processes (pytest-xdist; 2: the cores of the CI machine; 1: one process, no xdist);
# tests/conftest.py hands the slow ones out (longest first, a module's together, the SLURM cluster's on one worker).
TEST_WORKERS ?= 2
XDIST := $(if $(filter-out 0 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadgroup)
# The modern stack's pytest-xdist keeps the order tests/conftest.py gives (the SLURM cluster's tests, then the longest
# first); the paper stack's (3.6.1) has no such switch and starts with the largest groups.
MODERN_XDIST := $(XDIST) $(if $(XDIST),--no-loadscope-reorder)
SNAKE_ARGS ?=

.PHONY: setup test test-all smoke rehearsal report bench help paper-env test-paper test-paper-all smoke-paper \
	image-tools image-modern wheelhouse

help:
	@echo "make smoke     set up .venv and run the whole pipeline on synthetic data on CPU (tables in results/smoke)"
	@echo "make test      set up .venv and run the fast tests"
	@echo "make test-all  the fast tests and the slow end-to-end ones (what CI runs)"
	@echo "make rehearsal every row's full-size recipe for a few steps on COCO-shaped synthetic data, data to tables"
	@echo "               (CPU: 41 min for 16 rows, up to 15 GiB of memory and 30 GB of disk; a GPU node:"
	@echo "               snakemake --profile workflow/profiles/coco --config scale=rehearsal)"
	@echo "make report    the Snakemake HTML report of the smoke run (results/smoke/report.html)"
	@echo "make bench     the benchmarks under benchmarks/ (minutes to an hour on 2 cores)"
	@echo "make paper-env     set up .venv-paper: the paper image's pins (torch 1.9.0, mmcv-full 1.3.11, mmdet 2.16.0) on CPU"
	@echo "make test-paper    the fast tests under the paper environment"
	@echo "make test-paper-all  the fast and slow tests under the paper environment (what CI runs)"
	@echo "make smoke-paper   the smoke DAG as the image runs it: Snakemake from .venv, afa from .venv-paper"
	@echo "make image-tools   apt-get install podman, buildah, debootstrap and runc (root)"
	@echo "make image-modern  build the modern image with podman here (Debian by debootstrap, CUDA ops for sm_80/sm_90:"
	@echo "                   hours on 2 cores; MAX_JOBS=2 by default) and run its reproduce --smoke (build/image-modern/)"
	@echo "make wheelhouse    the offline folder scripts/gpu_check.sh installs from (WHEELHOUSE=wheelhouse; wheels for"
	@echo "                   the Python of GPU_PYTHON, default .venv's 3.11: pass one of the GPU machine's version)"

setup:
	@bash scripts/setup_env.sh

test: setup
	$(PY) -m pytest $(MODERN_XDIST) $(PYTEST_ARGS)

test-all: setup
	$(PY) -m pytest $(MODERN_XDIST) -m "slow or not slow"

smoke: setup
	$(VENV)/bin/snakemake --profile workflow/profiles/smoke $(SNAKE_ARGS)
	@cat results/smoke/tables.md
	@echo "smoke tables: results/smoke/tables.md (figures: results/smoke/*.png; HTML report: make report)"

rehearsal: setup
	$(VENV)/bin/snakemake --profile workflow/profiles/rehearsal $(SNAKE_ARGS)
	@cat results/rehearsal/tables.md
	@echo "rehearsal tables: results/rehearsal/tables.md (runs/rehearsal/ROW/: backbone.json says which weights served)"

report: setup
	$(VENV)/bin/snakemake --profile workflow/profiles/smoke --report results/smoke/report.html

bench: setup
	$(PY) benchmarks/neck_cost.py
	$(PY) benchmarks/neck_profile.py
	$(PY) benchmarks/smoke_learns.py
	$(PY) benchmarks/workflow_time.py

paper-env:
	@bash scripts/setup_paper_env.sh

test-paper: paper-env
	$(PAPER_PY) -m pytest -p no:cacheprovider $(XDIST) $(PYTEST_ARGS)

test-paper-all: paper-env
	$(PAPER_PY) -m pytest -p no:cacheprovider $(XDIST) -m "slow or not slow"

# The image's split on a host: the orchestrator (.venv) runs Snakemake, the paper environment trains and tests.
smoke-paper: setup paper-env
	$(VENV)/bin/snakemake --profile workflow/profiles/smoke --directory . \
	    --config afa_command="$(abspath $(PAPER_PY)) -m afa.cli" runs_root=runs-paper-stack \
	    results_root=results-paper-stack 'rows=$(PAPER_SMOKE_ROWS)' $(SNAKE_ARGS)
	@cat results-paper-stack/smoke/tables.md

# The modern image, built and checked on this machine with podman (scripts/image_here.sh says what it does).
image-tools:
	apt-get update
	apt-get install -y --no-install-recommends podman buildah debootstrap runc

image-modern:
	bash scripts/image_here.sh $(IMAGE_ARGS)

# What scripts/gpu_check.sh needs on a GPU machine without network, besides its torch (docker/README.md).
WHEELHOUSE ?= wheelhouse
GPU_PYTHON ?= $(abspath $(PY))
wheelhouse: setup
	bash scripts/wheelhouse.sh $(WHEELHOUSE) $(GPU_PYTHON)
