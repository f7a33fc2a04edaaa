# Every target creates what it needs: the virtualenv (.venv), the installed package, the schema.
# Local services by default; override with SEVSYNC_AMQP_URL / SEVSYNC_DATABASE_URL (and the
# SEVSYNC_TEST_* pair for the tests).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The product alone (what `make demo` and `make sandbox` need), and the product with the dev tools
# (tests, lint, typecheck): each target installs only what it uses, in either order.
PRODUCT := $(VENV)/.product
STAMP := $(VENV)/.installed
# The dev install plus the bench's own extra (FastStream, the anchor `make bench` measures).
BENCH_STAMP := $(VENV)/.bench

export SEVSYNC_TEST_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/
export SEVSYNC_TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: all venv test lint typecheck unit integration demo chaos chaos-cluster bench json-schema sandbox clean node-deps asyncapi

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel

$(PRODUCT): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $(PRODUCT)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(PRODUCT) $(STAMP)

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(PRODUCT) $(STAMP) $(BENCH_STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy cannot follow the editable install's import hook (the folders are installed under other
# names), so it reads the packages through symlinks named as they are imported.
MYPY_LINKS := .mypy-path
typecheck: $(STAMP)
	mkdir -p $(MYPY_LINKS)
	ln -sfn $(CURDIR)/worker $(MYPY_LINKS)/sevsync
	ln -sfn $(CURDIR)/events $(MYPY_LINKS)/sevsync_events
	ln -sfn $(CURDIR)/schema $(MYPY_LINKS)/sevsync_schema
	MYPYPATH=$(MYPY_LINKS) $(BIN)/mypy -p sevsync -p sevsync_events -p sevsync_schema -p tests -p bench

test: lint typecheck node-deps
	$(BIN)/pytest -q --junitxml=build/test-results.xml

# The unit tests need no services, but one runs the AsyncAPI parser with node (node-deps).
unit: $(STAMP) node-deps
	$(BIN)/pytest -q tests/unit

# RabbitMQ, Postgres and the sandbox; no node (the browser test runs with `make test` only).
integration: $(STAMP)
	$(BIN)/pytest -q tests/integration tests/e2e

demo: $(PRODUCT)
	$(BIN)/python -m sevsync.demo

# 2,000 events over 20 tenants while workers are SIGKILLed and sevDesk misbehaves; prints the census.
chaos: $(STAMP)
	SEVSYNC_DATABASE_URL=$${SEVSYNC_DATABASE_URL:-$(SEVSYNC_TEST_DATABASE_URL)} \
	SEVSYNC_AMQP_URL=$${SEVSYNC_AMQP_URL:-$(SEVSYNC_TEST_AMQP_URL)} \
	$(BIN)/python -m bench.chaos

# The chaos run against a 3-node RabbitMQ cluster of its own (spare ports, own node names, cookie and
# epmd; removed afterwards) whose node holding the work queue's leader is killed half-way. Not in `make test`.
chaos-cluster: $(STAMP)
	SEVSYNC_DATABASE_URL=$${SEVSYNC_DATABASE_URL:-$(SEVSYNC_TEST_DATABASE_URL)} \
	$(BIN)/python -m bench.chaos_cluster $(CHAOS_ARGS)

# Throughput, latency, sevDesk calls, CPU and peak RSS of real worker processes against the sandbox,
# each figure next to a bare aio-pika consumer's (uvloop, same prefetch and concurrency, a confirmed
# result per event) and the worker's CPU next to FastStream's consume+publish (the `bench` extra);
# prints its targets' verdicts; writes build/bench-results.json. Flags: BENCH_ARGS.
bench: $(BENCH_STAMP)
	SEVSYNC_DATABASE_URL=$${SEVSYNC_DATABASE_URL:-$(SEVSYNC_TEST_DATABASE_URL)} \
	SEVSYNC_AMQP_URL=$${SEVSYNC_AMQP_URL:-$(SEVSYNC_TEST_AMQP_URL)} \
	$(BIN)/python -m bench.perf $(BENCH_ARGS)

# Regenerate the checked-in JSON Schema files, and the AsyncAPI document built from them, after
# changing the event models.
json-schema: $(STAMP)
	$(BIN)/python -m sevsync_events.json_schema --write
	$(BIN)/python -m sevsync_events.asyncapi --write

# The AsyncAPI project's parser (tools/package.json, pinned by tools/package-lock.json) for the
# check of docs/asyncapi.yaml; `npm ci` runs again only when the lock or package.json changes, and
# runs no package's install scripts (telemetry such as @scarf/scarf; the parser needs none).
NODE_STAMP := tools/node_modules/.installed
$(NODE_STAMP): tools/package.json tools/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20.17+ with npm (the AsyncAPI check of make unit and make test needs it)" >&2; exit 1; }
	cd tools && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

node-deps: $(NODE_STAMP)

# Regenerate docs/asyncapi.yaml and validate it with the AsyncAPI parser.
asyncapi: $(STAMP) node-deps
	$(BIN)/python -m sevsync_events.asyncapi --write
	node tools/asyncapi-validate.mjs docs/asyncapi.yaml

sandbox: $(PRODUCT)
	$(BIN)/sevsync sandbox

clean:
	rm -rf $(VENV) .mypy-path build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis .demo
	rm -rf tools/node_modules
