# The two commands a newcomer needs: `make run` (server + UI) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench clean docker-setup docker-build docker-test ui frontend-test e2e chromium \
  agents-test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# the ray extra too: tests/orchestration/test_ray_executor.py starts a local Ray
	$(BIN)/pip install --quiet -e '.[dev,ray]'
	@# byte-compile now: CLIs start ~2x faster where PYTHONDONTWRITEBYTECODE is set
	$(BIN)/python -m compileall -q src > /dev/null
	touch $(STAMP)

# The web UI (frontend/, Node.js >= 20): built into src/conductor_loop/web/dist, which
# the server serves at /ui/ and the wheel ships, whenever its sources changed.
UI_DIST := src/conductor_loop/web/dist/index.html
UI_DEPS := frontend/node_modules/.package-lock.json
UI_SOURCES := $(wildcard frontend/index.html frontend/package.json frontend/*.ts frontend/tsconfig.json) \
  $(shell find frontend/src -type f 2>/dev/null)

ifneq ($(wildcard frontend/package.json),)
ui: $(UI_DIST)
else
ui:
endif

$(UI_DEPS): frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	@touch $@

$(UI_DIST): $(UI_DEPS) $(UI_SOURCES)
	cd frontend && npm run build

frontend-test: $(UI_DEPS)
	cd frontend && npm run typecheck && npm test

# Browser tests: Playwright (a dev dependency) drives Debian's Chromium (installed here
# when missing; no browser downloads).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

e2e: $(STAMP) ui chromium
	$(BIN)/pytest -m e2e tests/e2e

# The real claude, codex and gemini CLIs against our scripted fake model servers: the
# pinned versions are installed from npm into a cache outside the repository (see
# scripts/install-agent-clis.sh), once per pinned set.
agents-test: $(STAMP)
	bash scripts/install-agent-clis.sh
	$(BIN)/pytest -m real_agents tests/agents

run: $(STAMP) ui
	$(BIN)/conductor

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

# Everything, as CI runs it: static checks, Python suites, UI unit tests, browser tests,
# the real agent CLIs and container tests (these install Chromium, the pinned CLIs and a
# Docker engine when missing).
test: lint typecheck unit frontend-test e2e agents-test docker-test

# Containers: engine, Compose and (with no registry) stand-in base images, then the
# image and its tests. scripts/docker-env.sh names the base images; see its comments.
docker-setup:
	bash scripts/docker-setup.sh

docker-build: docker-setup
	. scripts/docker-env.sh && docker build -t conductor-loop:latest \
	  $${CONDUCTOR_PYTHON_IMAGE:+--build-arg PYTHON_IMAGE=$$CONDUCTOR_PYTHON_IMAGE} \
	  $${CONDUCTOR_NODE_IMAGE:+--build-arg NODE_IMAGE=$$CONDUCTOR_NODE_IMAGE} .

docker-test: $(STAMP) docker-setup
	. scripts/docker-env.sh && $(BIN)/pytest -m docker tests/docker

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache bench/results
	rm -rf frontend/node_modules src/conductor_loop/web/dist
