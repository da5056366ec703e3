# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export DATASET_LOC ?= $(abspath ../shared/data/dataset.csv)
export MODEL_DIR ?= $(abspath artifacts/model)

.PHONY: install system services-up services-down model run test test-unit test-integration \
        lint format bench bench-quick schemas clean

install: $(VENV)/.installed

# Reinstalling also recompiles the Cython modules (training/*.pyx) in place.
$(VENV)/.installed: pyproject.toml setup.py $(wildcard training/*.pyx)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

system:
	bash scripts/install-system.sh

services-up: system
	bash scripts/services.sh up all

services-down:
	bash scripts/services.sh down all

# Trains when there is no artifact the service would load (missing, or written by older code).
model: install
	@$(PY) -m training check --model "$(MODEL_DIR)" \
	  || { echo "[model] (re)training $(MODEL_DIR)"; \
	       $(PY) -m training train --data "$(DATASET_LOC)" --out "$(MODEL_DIR)"; }

run: install services-up model
	$(PY) -m consumer.local_run

test: install system
	$(PY) -m pytest -q

test-unit: install
	$(PY) -m pytest -q tests/unit

test-integration: install system
	$(PY) -m pytest -q tests/integration

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

schemas: install
	$(PY) -m schemas export schemas/json

bench: install services-up
	$(PY) -m bench

bench-quick: install services-up
	$(PY) -m bench --quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache artifacts reports .bench build training/*.so training/*.c training/*.cpp
