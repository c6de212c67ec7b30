# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test install install-test assets lint format bench bench-builds bench-relay bench-agents bench-web bench-scim bench-oidc bench-audit-stream bench-all bench-all-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	PYTHONWARNINGS=ignore $(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	PYTHONWARNINGS=ignore $(BIN)/pip install --quiet -e ".[test]"
	touch $@ $(STAMP)

# The wheels the server serves agents for SSH (asyncssh, cryptography) per workspace platform.
WHEELS_STAMP := $(VENV)/.agent-wheels
$(WHEELS_STAMP): $(STAMP)
	$(BIN)/portal agent-wheels download
	touch $@

# scim2-tester (SCIM conformance, tests/enterprise/scim/test_conformance.py) in a venv of its
# own: its pydantic and httpx pins are not ours to follow.
SCIM_VENV := .venv-scim
SCIM_STAMP := $(SCIM_VENV)/.installed
$(SCIM_STAMP):
	$(PYTHON) -m venv $(SCIM_VENV)
	PYTHONWARNINGS=ignore $(SCIM_VENV)/bin/pip install --quiet "scim2-tester[httpx]==0.5.2" "scim2-cli==0.6.0" "scim2-client==0.13.2" "scim2-models==0.12.3"
	touch $@

install: $(STAMP) $(WHEELS_STAMP) assets
install-test: $(TEST_STAMP) $(WHEELS_STAMP) assets $(SCIM_STAMP)

## Front-end packages from npm (package-lock.json), copied into the project-wide static/ (Django
# serves it: STATICFILES_DIRS). axe-core is there for the browser tests only
# (tests/browser/test_accessibility.py); no page loads it.
VENDOR := static/vendor
VENDOR_STAMP := $(VENDOR)/.installed
$(VENDOR_STAMP): package.json package-lock.json $(wildcard static_src/console/*.js)
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js \
	   node_modules/@xterm/xterm/lib/xterm.js node_modules/@xterm/xterm/css/xterm.css \
	   node_modules/@xterm/addon-fit/lib/addon-fit.js $(VENDOR)/
	cp node_modules/axe-core/axe.min.js $(VENDOR)/
	cp node_modules/chart.js/dist/chart.umd.min.js $(VENDOR)/chart.js
	node_modules/.bin/esbuild static_src/console/editor.js --bundle --minify --format=iife \
	   --log-level=warning --outfile=$(VENDOR)/console-editor.js
	touch $@
assets: $(VENDOR_STAMP)

## Start the whole platform (server + worker + beat, embedded PostgreSQL and Redis).
run: $(STAMP) $(WHEELS_STAMP) assets
	$(BIN)/portal server

## Run the whole test suite against PostgreSQL and Redis.
test: $(TEST_STAMP) $(WHEELS_STAMP) assets $(SCIM_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(TEST_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(TEST_STAMP)
	$(BIN)/python bench/api_list.py

bench-builds: $(TEST_STAMP)
	$(BIN)/python bench/build_latency.py

bench-relay: $(TEST_STAMP) $(WHEELS_STAMP)
	$(BIN)/python bench/relay.py
	$(BIN)/python bench/ssh.py

## 10,000 idle agents on one server process: heartbeat p50/p95/p99 and server RSS.
bench-agents: $(TEST_STAMP)
	$(BIN)/python bench/idle_agents.py

bench-web: $(TEST_STAMP) assets
	$(BIN)/python bench/web_pages.py

bench-scim: $(TEST_STAMP)
	$(BIN)/python bench/scim.py

## The OIDC callback's server time with 20 groups synced (starts the test OpenID Provider).
bench-oidc: $(TEST_STAMP) assets
	$(BIN)/python bench/oidc_callback.py

## Audit streaming: what the outbox hook adds to record(), entries/s to a webhook and to syslog.
bench-audit-stream: $(TEST_STAMP)
	$(BIN)/python bench/audit_stream.py

## Every benchmark, one after another, each in its own sandbox: figures, machine, load and git
## revision in bench-results.json. The -quick one only checks they all run (small sizes).
bench-all: $(TEST_STAMP) $(WHEELS_STAMP) assets
	$(BIN)/python bench/run_all.py --out bench-results.json

bench-all-quick: $(TEST_STAMP) $(WHEELS_STAMP) assets
	$(BIN)/python bench/run_all.py --quick --out bench-results.json

clean:
	rm -rf $(VENV) $(SCIM_VENV) .pytest_cache node_modules $(VENDOR)

## The container image (deploy/docker/Dockerfile): IMAGE names it, BASE picks the Python base.
IMAGE ?= portal:$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
BASE ?= python:3.11-slim
.PHONY: image image-wheels
image: assets
	docker build -f deploy/docker/Dockerfile --build-arg BASE=$(BASE) -t $(IMAGE) .

## Wheels for building the image without a package index (deploy/docker/wheels/README.md).
image-wheels: $(STAMP) $(WHEELS_STAMP)
	$(BIN)/python deploy/docker/wheelhouse.py
