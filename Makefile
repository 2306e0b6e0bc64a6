# tickwise — `make demo` and `make test` are the two commands a fresh machine needs (README).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null)
export DAGSTER_HOME ?= $(CURDIR)/.dagster
export RAY_AUTH_MODE ?= disabled
export OMP_WAIT_POLICY ?= PASSIVE
export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/mlflow.db
export TICKWISE_REDIS_URL ?= redis://127.0.0.1:6390/0
export TICKWISE_KAFKA_BOOTSTRAP ?= 127.0.0.1:19092
export TICKWISE_FLINK_URL ?= http://127.0.0.1:18081
export TICKWISE_S3_ENDPOINT ?= http://127.0.0.1:19000

.PHONY: setup dagster-home demo test lint dev services services-stop bench clean

# Idempotent and fast when nothing changed: the stamp is newer than pyproject.toml and uv.lock.
setup: $(VENV)/.stamp
$(VENV)/.stamp: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	UV_COMPILE_BYTECODE=1 uv sync --frozen --quiet
	@touch $@

dagster-home:
	@mkdir -p $(DAGSTER_HOME) && [ -f $(DAGSTER_HOME)/dagster.yaml ] || cp infra/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: setup
	$(PY) scripts/demo.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest

dev: setup dagster-home
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

services:
	infra/services.sh start

services-stop:
	infra/services.sh stop

bench: setup
	$(VENV)/bin/tickwise bench simulator

clean:
	rm -rf data .dagster mlflow.db mlruns out .services .tickwise-demo-mlflow
