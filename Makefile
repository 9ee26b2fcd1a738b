# Ruam: the Makefile targets are the interface (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STACK  := $(PYTHON) deploy/local/stack.py
ASSETS := $(PYTHON) deploy/local/web_assets.py
BROWSER := $(PYTHON) deploy/local/chromium.py
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install assets browser prometheus up down logs status demo test test-browser test-unit bench chaos lint format clean

# uv installs the same pins in seconds where pip took a minute (docs/storage.md, "`make
# demo` from a fresh clone"); pip remains the way if uv cannot be had or cannot reach.
# --compile-bytecode does what pip does by default: where bytecode is not written at run
# time (PYTHONDONTWRITEBYTECODE), each process would otherwise compile all it imports.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	( $(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt uv && \
	  $(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -c constraints.txt -e ".[dev]" ) || \
	  $(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev]"
	./scripts/thai-fonts.sh
	$(PYTHON) deploy/local/pango.py || echo "pango: insight's PDF reports need it (deploy/local/pango.py)" >&2
	touch $(STAMP)

## The venv, and the portal's web assets (npm packages at pinned versions, cached in
## ~/.cache/ruam/web, copied into services/portal/static/vendor; docs/portal-testing.md).
install: $(STAMP) assets

assets:
	$(ASSETS)

## Debian's chromium and chromium-driver for the browser tests (apt-get when missing).
browser:
	$(BROWSER)

## promtool and prometheus, built with Go and cached in ~/.cache/ruam/bin: the alert rules'
## tests, and `make up MONITORING=1` (a local Prometheus scraping the services).
prometheus:
	$(PYTHON) deploy/local/prometheus.py build

## Start Kafka, FerretDB and the four services in the background (idempotent); with
## MONITORING=1 also Prometheus on 127.0.0.1:9090 with the alert rules (`make down` stops it).
up: install
	$(STACK) up

## Stop exactly what `make up` started.
down:
	$(STACK) down

logs:
	$(STACK) logs

status:
	$(STACK) status

## The main job: bring the stack up and replay a day of citizen reports (DATA=path.csv);
## then scan every topic and every auditor's and anyone's answer for the input's personal
## data (docs/personal-data.md). The demo shows the verdict and goes on; CI runs the scan
## itself, which exits 1 on a finding.
demo: up
	$(BIN)/python -m tools.demo $(if $(DATA),--data "$(DATA)",)
	-$(BIN)/python -m tools.pii_scan $(if $(DATA),--data "$(DATA)",)

## Unit, messaging, integration and e2e tests; starts and stops its own test stack.
test: install browser prometheus
	$(STACK) up --profile test --infra-only
	RUAM_NO_STACK_START=1 $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  $(STACK) down --profile test; exit $$rc

## Only the public website's browser tests (docs/portal-testing.md), on the test stack.
test-browser: install browser
	$(STACK) up --profile test --infra-only
	RUAM_NO_STACK_START=1 $(BIN)/python -m pytest tests/portal/e2e $(PYTEST_ARGS); rc=$$?; \
	  $(STACK) down --profile test; exit $$rc

## Only the tests that need no broker or database.
test-unit: install
	$(BIN)/python -m pytest -m "not integration and not e2e" $(PYTEST_ARGS)

## Throughput, latency and memory on the local stack's Kafka and FerretDB; the portal's
## home page render time. Each bench runs the services it measures itself, so only Kafka
## and FerretDB are started (services already up are left running, and share the cores).
bench: install
	$(STACK) up --infra-only
	$(BIN)/python -m tools.bench
	$(BIN)/python -m tools.bench_portal
	$(BIN)/python -m tools.bench_console
	$(BIN)/python -m tools.bench_ferretdb
	$(BIN)/python -m tools.bench_classifier

## Nothing lost under faults: 10,000 events (EVENTS=n) while services, Kafka and FerretDB
## are killed, on a stack of its own (profile chaos); about 17 minutes, not part of `test`.
chaos: install
	$(BIN)/python -m tools.chaos $(if $(EVENTS),--events $(EVENTS),)

lint: install
	./scripts/lint.sh

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Stop every stack first: their pid files are under .run, and a process whose file is
## gone is no longer this stack's to stop (its port then stays taken).
clean: down
	$(STACK) down --profile test
	$(STACK) down --profile chaos
	rm -rf .run
