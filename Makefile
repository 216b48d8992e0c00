# tickwire — every entry point a developer or CI uses. `make` prints this help.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=

.PHONY: help install test test-fast lint typecheck fmt docs demo bench bench-quick clean

help: ## show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed ## create .venv and install tickwire with pinned dependencies

test: install ## run the whole test suite (unit, integration, e2e; Docker tests need an engine)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install ## run the tests that need no Docker engine
	$(PY) -m pytest -m "not docker" $(PYTEST_ARGS)

lint: install ## ruff and mypy
	$(VENV)/bin/ruff check services tests scripts
	$(VENV)/bin/ruff format --check services tests scripts
	$(VENV)/bin/mypy services

typecheck: install ## mypy (strict) on services/
	$(VENV)/bin/mypy services

fmt: install ## format and autofix
	$(VENV)/bin/ruff format services tests scripts
	$(VENV)/bin/ruff check --fix services tests scripts

docs: install ## regenerate docs/configuration.md from the settings
	$(PY) scripts/gen_config_doc.py

demo: install ## run the offline demo: simulator + all services as local processes, a live ladder
	$(PY) -m services.demo

bench: install ## run the benchmarks (≤ 10 min); writes bench/results/latest.json
	$(PY) -m bench

bench-quick: install ## a one-minute benchmark smoke run
	$(PY) -m bench --quick

clean: ## remove caches and local state (not the venv)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis var
