# Artisan: every target installs what it needs. `make demo` and `make test` work from a clean clone.
SHELL := /bin/bash
PY := .venv/bin/python
VENV_STAMP := .venv/.installed
NODE_STAMP := node_modules/.installed
ARTIFACTS := build/contracts/.digest
FORGE := node_modules/@foundry-rs/forge-linux-amd64/bin/forge
SOL := $(wildcard contracts/*.sol)
DASHBOARD := build/dashboard/app.js
DASHBOARD_SRC := $(wildcard dashboard/src/*)

.PHONY: all install venv node dashboard browser contracts test test-py test-forge check test-order demo bench bench-gas \
        bench-executor bench-indexer bench-projections bench-emission bench-hostile bench-api bench-catchup gas-report \
        fuzz fuzz-api simulate soak clean

all: install contracts

install: venv node dashboard

venv: $(VENV_STAMP)
$(VENV_STAMP): pyproject.toml
	test -x .venv/bin/python || python3 -m venv .venv
	.venv/bin/python -m pip install -q --upgrade pip
	.venv/bin/python -m pip install -q -e '.[dev]'
	touch $@

node: $(NODE_STAMP)
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	chmod +x node_modules/@foundry-rs/*/bin/* scripts/*.js
	touch $@

# The dashboard the API serves at / (artisan/graphql/dashboard.py): our modules and the npm
# packages chart.js and cytoscape, bundled by esbuild into build/dashboard (app.js, app.css).
dashboard: $(DASHBOARD)
$(DASHBOARD): $(NODE_STAMP) $(DASHBOARD_SRC)
	node_modules/.bin/esbuild dashboard/src/main.js --bundle --minify --format=iife \
		--target=es2020 --log-level=warning --outfile=$@

# Debian's Chromium for the browser tests (tests/dashboard): CI runs this first; where it cannot
# be installed, those tests skip and say why.
browser:
	scripts/install-browser.sh

contracts: $(ARTIFACTS)
$(ARTIFACTS): $(NODE_STAMP) $(SOL) contracts/test/utils/MockWallet.sol scripts/compile-contracts.js
	node scripts/compile-contracts.js

test: install contracts
	scripts/run-tests.sh

test-py: install contracts
	$(PY) -m pytest -q

# Order and leak check (not in `make test`): the Python suite under -X dev (an unclosed file,
# socket or process is a ResourceWarning, an error here), once in reverse order and once
# shuffled with a fixed seed (SEED=...; pytest-random-order). TRACEMALLOC=20 adds where each
# leaked object was allocated to the report (the suite then runs about seven times slower).
SEED ?= 20261206
TRACEMALLOC ?= 0
test-order: install contracts
	PYTHONTRACEMALLOC=$(TRACEMALLOC) $(PY) -X dev -m pytest -q -p no:cacheprovider --reverse
	PYTHONTRACEMALLOC=$(TRACEMALLOC) $(PY) -X dev -m pytest -q -p no:cacheprovider \
		--random-order-bucket=global --random-order-seed=$(SEED)

test-forge: node
	$(FORGE) test -q

check: venv
	.venv/bin/ruff format --check artisan tests benchmarks
	.venv/bin/ruff check artisan tests benchmarks
	.venv/bin/mypy
	.venv/bin/lint-imports

demo: install contracts
	ARTISAN_DEV=1 $(PY) -m artisan.cli demo

gas-report: node
	$(FORGE) test -q --match-contract GasReport --gas-report

bench: bench-gas bench-executor bench-emission bench-projections bench-indexer bench-hostile bench-live bench-api

bench-gas: install contracts
	$(PY) -m benchmarks.gas

bench-indexer: install contracts
	$(PY) -m benchmarks.indexer

bench-projections: install contracts
	$(PY) -m benchmarks.projections

bench-emission: install contracts
	$(PY) -m benchmarks.emission

bench-executor: install contracts
	$(PY) -m benchmarks.executor

bench-live: install contracts
	$(PY) -m benchmarks.live

bench-hostile: install contracts
	$(PY) -m benchmarks.hostile

# The first projections catch-up on a freshly backfilled store, autovacuum off (final JSON line).
bench-catchup: install contracts
	$(PY) -m benchmarks.catchup

bench-api: install contracts
	$(PY) -m benchmarks.api

# The API under generated queries: 200 per root field (make test runs 8).
fuzz-api: install contracts
	ARTISAN_API_FUZZ_EXAMPLES=200 $(PY) -m pytest -q -p no:cacheprovider --timeout=3600 -s tests/graphql/test_graphql_fuzz.py

# The whole system under faults, seed by seed, checked against ground truth (final table and
# JSON line; artisan/testing/simulation.py). `make test` runs one seed (tests/test_simulation.py).
SEEDS ?= 20
simulate: install contracts
	$(PY) -m artisan.testing.simulation --seeds $(SEEDS)

# A bounded soak, not in `make test` nor CI: the whole system for MINUTES minutes at a steady load
# (signed executions, GraphQL readers and subscribers, reorgs, SIGKILLed and restarted services);
# throughput, p99 latencies, memory growth per process per hour, descriptors, connections, and
# every accepted execution on chain once and projected (final JSON line; artisan/testing/soak.py).
MINUTES ?= 10
soak: install contracts
	$(PY) -m artisan.testing.soak --minutes $(MINUTES)

fuzz: install contracts
	FOUNDRY_FUZZ_RUNS=5000 FOUNDRY_INVARIANT_RUNS=256 FOUNDRY_INVARIANT_DEPTH=100 $(FORGE) test
	$(PY) -m pytest -q --timeout=3600 --hypothesis-profile=fuzz

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
