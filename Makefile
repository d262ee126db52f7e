# fenlei's task runner: every README command is a target here.
VENV   ?= .venv
PY     := $(VENV)/bin/python
FENLEI := $(VENV)/bin/fenlei
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system python demo test lint bench-ingest bench-latency bench-api bench-api-baseline services-up services-down clean

# Install system packages (Mosquitto, PostgreSQL 15, TimescaleDB) and the Python env.
setup: system python

# System services from Debian packages; TimescaleDB built from Debian's source package.
system:
	$(SUDO) bash deploy/local/install-system.sh $(SYSTEM_FLAGS)

# A virtualenv with fenlei and its test/dev extras; redone when pyproject.toml changes.
python: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev]'
	touch $@

# The main job: local services, a simulated estate, ingest, API and dashboards.
demo: setup
	$(FENLEI) demo $(ARGS)

# The whole test suite against real Mosquitto and PostgreSQL + TimescaleDB
# (and Debian's Chromium for the browser tests).
test: SYSTEM_FLAGS = --with-browser --with-failover
test: setup
	$(PY) -m pytest

# Lint and type-check.
lint: python
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

# Ingest throughput benchmark; writes bench/results/ingest.md.
bench-ingest: setup
	$(FENLEI) services up
	$(PY) -m bench.ingest

# End-to-end latency benchmark (PUBACK -> figures at 2,000 ev/s); writes bench/results/latency.md.
bench-latency: setup
	$(FENLEI) services up
	$(PY) -m bench.latency

# Figures latency benchmark; writes bench/results/api.md.
bench-api: setup
	$(FENLEI) services up
	$(PY) -m bench.api

# The same API cases at BASELINE and at this checkout, alternately (each side with its
# own migrations, loader and API); writes bench/results/api-baseline.md.
BASELINE ?= edffe67
bench-api-baseline: setup
	$(FENLEI) services up
	$(PY) -m bench.api --baseline $(BASELINE)

# Start / stop the local services.
services-up: setup
	$(FENLEI) services up
services-down:
	$(FENLEI) services down

# Remove the virtualenv (local service data in .fenlei/ is kept).
clean:
	rm -rf $(VENV)
