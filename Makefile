# nearpath developer entry points. `make setup && make test` is all a fresh machine needs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export NEARPATH_CACHE ?= $(HOME)/.cache/nearpath
RUNS ?= 1

.PHONY: setup setup-python setup-testbeds test test-all test-unit test-control-plane test-vm test-e2e test-cluster \
	    lint crds crds-check sanity chart-check bench-failover bench-operator clean

setup: setup-python setup-testbeds ## everything the tests need (idempotent)

setup-python: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

setup-testbeds: setup-python
	bash tools/setup-testbeds

test-all: setup-python ## every tier and every scenario, including the long ones marked `full`
	NEARPATH_FULL=1 NEARPATH_CLUSTER=$${NEARPATH_CLUSTER:-1} bash tools/run-tests

test: setup-python ## the README's test command: tiers 1-2 always, 3-4 when they can run
	bash tools/run-tests

test-unit: setup-python
	$(PY) -m pytest -m unit tests/unit

test-control-plane: setup-python
	$(PY) -m pytest -m controlplane tests/controlplane

test-vm: setup-python
	$(PY) -m pytest -m vm tests/vm

test-e2e: setup-python
	$(PY) -m pytest -m e2e tests/e2e

test-cluster: setup-python ## cluster tier: host control plane + 2 VM kubelet nodes, helm install, tests/e2e
	flock /tmp/nearpath-vm.lock tests/cluster/build
	flock /tmp/nearpath-vm.lock $(PY) -m tests.cluster.run

lint: setup-python
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check core operator csi target preflight tools tests nearpath/__init__.py nearpath/cli.py nearpath/__main__.py
	$(VENV)/bin/mypy -p nearpath
	$(VENV)/bin/lint-imports --no-cache
	$(PY) tools/check_sizes.py

crds: setup-python ## regenerate crds/ (and the chart's copy) from the pydantic models
	$(PY) -m nearpath crds --output crds
	$(PY) -m nearpath crds --output charts/nearpath/crds

crds-check: setup-python
	$(PY) -m nearpath crds --check crds

sanity: setup-python ## csi-sanity against the driver (controller on the real API server, node in sandbox mode)
	tests/sanity/run

bench-operator: setup-python ## 1000 VolumeGroups to Ready against the real API server (a benchmark)
	$(PY) -m tests.bench.operator_scale --count 1000

bench-failover: setup-python ## failover pauses on the real flow (3 VMs + API server; RUNS=n, ~6 min a run)
	flock /tmp/nearpath-vm.lock $(PY) -m tests.bench.failover --runs $(RUNS) --json bench-results/failover.json

chart-check: setup-python ## helm lint, template, server dry-run, CRDs in the chart equal crds/
	bash tools/chart-check

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
