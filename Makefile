# Chargeyard. `make run` starts everything on the embedded default; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PACKAGES := libs/contracts libs/platform libs/devstack simulator \
	services/ocpp-gateway services/reservation-api services/scheduler services/energy-manager \
	services/notifier services/billing services/reporting services/backoffice

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: $(foreach p,$(PACKAGES),$(p)/pyproject.toml) requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt $(foreach p,$(PACKAGES),-e $(p))
	touch $@

.PHONY: install
install: $(VENV)/.installed ## Create .venv and install every package

.PHONY: run
run: install ## Start Tansu, every service and a simulated site (Ctrl-C stops all)
	$(PY) -m chargeyard_devstack $(ARGS)

.PHONY: test
test: install validate-deploy browser ## Unit, integration and e2e tests (Tansu, SQLite and the local PostgreSQL)
	$(PY) -m pytest

.PHONY: browser
browser: ## Debian's chromium for the browser tests (apt-get installs it when /usr/bin/chromium is absent)
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

.PHONY: screenshots
screenshots: install browser ## Screenshots of the back office dashboard and the app's session page (screenshots/*.png)
	mkdir -p screenshots
	CHARGEYARD_SCREENSHOTS=$(CURDIR)/screenshots $(PY) -m pytest -q services/backoffice/tests/e2e
	@ls -l screenshots/*.png

.PHONY: validate-deploy
validate-deploy: install ## Check Dockerfile, docker-compose.yml and deploy/k8s offline (hadolint, schemas, kustomize)
	$(PY) deploy/tools/validate.py
	$(PY) -m pytest -q tests/deploy

.PHONY: test-unit
test-unit: install ## Unit tests only (no broker, no database server)
	$(PY) -m pytest -m "not integration and not e2e"

.PHONY: lint
lint: install ## ruff check, ruff format --check, mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: bench
bench: install ## Gateway load bench: 1k/5k/10k stations vs a bare ocpp server (BENCH_QUICK=1: seconds)
	$(PY) bench/gateway/run.py $(ARGS)
	$(PY) bench/scheduler/run.py

.PHONY: dashboard-previews
dashboard-previews: install ## Pictures of the Grafana dashboards from a real Prometheus over a `make run` (docs/dashboards)
	@command -v prometheus >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus; }
	$(PY) tools/dashboard_previews.py --out docs/dashboards $(ARGS)

.PHONY: schemas
schemas: install ## Regenerate JSON Schema and the AsyncAPI document from libs/contracts
	$(PY) -m chargeyard_contracts.schema libs/contracts/schemas

.PHONY: clean
clean: ## Remove the run directory (databases, logs)
	rm -rf var
