# evalkit: the two commands users need are `make evaluate` and `make test`.
# Every target is idempotent: a fresh Debian machine (root) gets everything it needs,
# a machine that already has it skips straight to the work.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EVALKIT := $(BIN)/evalkit

# make evaluate SUBMISSIONS="team1.tar.gz team2:latest" [CASES=dir] [RUN=name] [CONFIG=file]
SUBMISSIONS ?=
CASES ?=
RUN ?=
CONFIG ?=
# the demo set follows the challenge: CONFIG=cvpr25-interactive -> preset cvpr25
DEMO_PRESET ?= $(if $(filter cvpr25-interactive,$(CONFIG)),cvpr25,$(if $(filter cvpr25-text,$(CONFIG)),cvpr25-text,demo))
DEMO_DIR ?= demo_data/$(if $(filter demo,$(DEMO_PRESET)),cvpr24,$(DEMO_PRESET))-demo
DEMO_RUN := $(if $(CONFIG),$(notdir $(basename $(CONFIG)))-demo,demo)
PYTEST_ARGS ?=

.PHONY: help setup venv engine references demo-data evaluate test lint clean

help:
	@echo "make evaluate   set everything up, then evaluate (default: bundled reference submissions on the demo set)"
	@echo "make test       set everything up, then run the whole test suite"
	@echo "variables: SUBMISSIONS='img.tar.gz team:tag ...' CASES=dir RUN=name CONFIG=challenge.toml"

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

# Docker engine (installs Debian's docker.io and starts dockerd when run as root) and local base images.
engine: venv
	$(EVALKIT) engine ensure

# The bundled participant images (LiteMedSAM OpenVINO, PyTorch baseline, classical baselines).
references: engine
	$(BIN)/python reference_submissions/build.py $(if $(EFFICIENTVIT_CHECKPOINT),--efficientvit-checkpoint $(EFFICIENTVIT_CHECKPOINT))

demo-data: venv
	$(EVALKIT) demo-data --out $(DEMO_DIR) --preset $(DEMO_PRESET)

setup: venv engine

evaluate: setup $(if $(CASES),,demo-data)
ifeq ($(strip $(SUBMISSIONS)),)
	$(MAKE) --no-print-directory references
	$(EVALKIT) evaluate --bundled --cases $(or $(CASES),$(DEMO_DIR)) --run $(or $(RUN),$(DEMO_RUN)) $(if $(CONFIG),--config $(CONFIG))
else
	$(EVALKIT) evaluate $(SUBMISSIONS) --cases $(or $(CASES),$(DEMO_DIR)) $(if $(RUN),--run $(RUN)) $(if $(CONFIG),--config $(CONFIG))
endif

test: setup references
	$(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check evalkit tests benchmarks reference_submissions

clean:
	rm -rf .pytest_cache .ruff_cache test-artifacts
