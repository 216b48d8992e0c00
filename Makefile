# tickwire — every entry point a developer or CI uses. `make` prints this help.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=

.PHONY: help install test test-fast lint typecheck fmt docs demo bench bench-quick chaos clean

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
	$(VENV)/bin/ruff check services tests scripts chaos bench
	$(VENV)/bin/ruff format --check services tests scripts chaos bench
	$(VENV)/bin/mypy services

typecheck: install ## mypy (strict) on services/
	$(VENV)/bin/mypy services

fmt: install ## format and autofix
	$(VENV)/bin/ruff format services tests scripts chaos bench
	$(VENV)/bin/ruff check --fix services tests scripts chaos bench

docs: install ## regenerate docs/configuration.md from the settings
	$(PY) scripts/gen_config_doc.py

demo: install ## run the offline demo: simulator + all services as local processes, a live ladder
	$(PY) -m services.demo $(DEMO_ARGS)

bench: install ## run the benchmarks (≤ 10 min); writes bench/results/latest.json and docs/benchmarks.md
	BENCH_NICE=$${BENCH_NICE:--10} $(PY) -m bench

bench-quick: install ## a one-minute benchmark smoke run
	$(PY) -m bench --quick

chaos: install ## the long randomized fault and crash run against bybit_sim (CHAOS_ARGS="--seed 7 --duration 600")
	$(PY) -m chaos $(CHAOS_ARGS)

clean: ## remove caches and local state (not the venv)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis var

# ---- docker compose (deploy/) ----------------------------------------------------------------
# `make up` / `down` / `logs` / `ps` drive docker compose with deploy/docker-compose.yml and the
# env file ENV_FILE (default deploy/.env, created from deploy/example.env). Works with
# `docker compose` (v2) and Debian's `docker-compose` 1.29.
ENV_FILE ?= deploy/.env
COMPOSE_YML := deploy/docker-compose.yml
COMPOSE ?= $(shell if docker compose version >/dev/null 2>&1; then echo "docker compose"; \
	elif command -v docker-compose >/dev/null 2>&1; then echo docker-compose; else echo "docker compose"; fi)
PROJECT ?= $(shell sed -n 's/^COMPOSE_PROJECT_NAME=//p' $(ENV_FILE) 2>/dev/null | tail -n1)
DC = $(COMPOSE) --env-file $(ENV_FILE) -f $(COMPOSE_YML) -p $(or $(PROJECT),tickwire)
UP_TIMEOUT ?= 180
DOWN_FLAGS ?=

.PHONY: images up down logs ps docker-test


deploy/.env:
	cp deploy/example.env $@
	chmod 600 $@

images: ## build the Docker images (base image from debootstrap when missing)
	bash deploy/images.sh

up: images $(ENV_FILE) ## start the stack in Docker and wait until every container is healthy
	$(DC) up -d --remove-orphans
	bash deploy/wait-healthy.sh $(or $(PROJECT),tickwire) $(UP_TIMEOUT)
	@echo "monitor    http://127.0.0.1:$$(sed -n 's/^MONITOR_PORT=//p' $(ENV_FILE) | tail -n1)/health"
	@echo "prometheus http://127.0.0.1:$$(sed -n 's/^PROMETHEUS_PORT=//p' $(ENV_FILE) | tail -n1)/alerts"

down: ## stop the stack and remove its containers and network (DOWN_FLAGS=-v also drops volumes)
	$(DC) down --remove-orphans --timeout 15 $(DOWN_FLAGS)

logs: ## follow the stack's logs (SERVICE=name for one service)
	$(DC) logs -f --tail=200 $(SERVICE)

ps: ## list the stack's containers and their health
	$(DC) ps

docker-test: install ## the Docker end-to-end test (needs an engine: deploy/ci-docker.sh)
	$(PY) -m pytest -m docker tests/e2e $(PYTEST_ARGS)
