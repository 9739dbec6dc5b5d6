# spamops: every target creates .venv and installs the project first (idempotent).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED_ZIP := $(abspath ../shared/data/sms+spam+collection.zip)
# Use the bundled copy of the UCI zip when it lies beside the project (no internet here).
ifeq ($(origin SPAMOPS_DATASET_URL), undefined)
ifneq ($(wildcard $(SHARED_ZIP)),)
export SPAMOPS_DATASET_URL := $(SHARED_ZIP)
endif
endif
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export STREAMLIT_BROWSER_GATHER_USAGE_STATS := false
export STREAMLIT_SERVER_HEADLESS := true

.PHONY: help setup install data setup-database test test-fast test-drift test-monitor lint \
        demo train serve monitor dashboard console bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install spamops with the dev tools

setup: install  ## install, fetch and verify the dataset, create the database
	$(BIN)/spamops data fetch
	$(BIN)/spamops setup-database

data: install  ## fetch and verify the dataset
	$(BIN)/spamops data fetch

setup-database: install  ## create or upgrade the DuckDB history (idempotent)
	$(BIN)/spamops setup-database

test: setup  ## run every test (slow end-to-end ones included) with coverage
	$(BIN)/pytest

test-fast: install  ## the tests not marked slow
	$(BIN)/pytest -m "not slow" --no-cov

test-drift: install  ## drift tests, then the readable report on a drifted and a clean window
	$(BIN)/pytest tests/engine/test_drift.py tests/engine/test_drift_cli.py --no-cov -q
	$(BIN)/python scripts/drift_report_demo.py

test-monitor: install  ## monitoring, rules, comparison and scheduler tests
	$(BIN)/pytest tests/engine/test_rules.py tests/engine/test_monitoring.py \
	  tests/engine/test_comparison.py tests/engine/test_scheduling.py --no-cov -q

lint: install  ## ruff, mypy (strict on engine and server), import-linter contracts
	$(BIN)/ruff check engine server tui web_dashboard scripts tests
	$(BIN)/mypy
	$(BIN)/lint-imports

demo: setup  ## train, replay a simulated week of traffic, show the decisions
	$(BIN)/spamops demo
	@if [ -t 0 ] && [ -t 1 ]; then $(BIN)/spamops console; else \
	  echo; echo "Open the console:    $(BIN)/spamops console"; \
	  echo "Open the dashboard:  $(BIN)/spamops dashboard   (http://127.0.0.1:8501)"; \
	  echo "Start the API:       $(BIN)/spamops serve       (http://127.0.0.1:8000/docs)"; fi

train: setup  ## train a model and register it (the first becomes champion)
	$(BIN)/spamops train

serve: setup  ## run the REST API on 127.0.0.1:8000
	$(BIN)/spamops serve

monitor: setup  ## run the headless monitor (scheduler)
	$(BIN)/spamops monitor

dashboard: setup  ## run the Streamlit dashboard on 127.0.0.1:8501
	$(BIN)/spamops dashboard

console: setup  ## open the operator console
	$(BIN)/spamops console

bench: install  ## run every benchmark (each prints one JSON line)
	@for f in scripts/benchmarks/*.py; do echo "# $$f" >&2; $(BIN)/python $$f || exit 1; done

clean:  ## remove the venv and caches (keeps data/)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
