# Latent Atlas: `make run` sets everything up and serves the shipped models;
# `make test` sets everything up and runs the whole suite, browser tests included.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PY_STAMP := $(VENV)/.installed
JS_STAMP := frontend/node_modules/.installed

.PHONY: setup run lint test test-slow docs docs-build bench screenshot clean

setup: $(PY_STAMP) $(JS_STAMP)

$(PY_STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

$(JS_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	$(BIN)/latentatlas serve --host $(HOST) --port $(PORT)

# ruff (lint and format), mypy, eslint: the gate every change passes.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd frontend && npx --no-install eslint .

# The documentation site, built strictly (any warning fails) into a throw-away folder.
docs-build: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir "$$(mktemp -d)"

# The documentation site at http://127.0.0.1:8001, rebuilt as the pages change.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8001

# The default tier: every test but those marked slow (pytest -m slow, or make test-slow, runs them).
test: setup lint docs-build
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

BENCHMARKS := serve_latency eoflow_latency load upload_memory browser_decode population startup_memory adversarial \
	import_onnx open_datasets med_speed fragments_speed metrics_speed

# Every benchmark, each writing its JSON to bench/results/.
bench: setup
	for name in $(BENCHMARKS); do $(BIN)/python bench/$$name.py || exit 1; done

screenshot: setup
	LATENTATLAS_UPDATE_SCREENSHOT=1 $(BIN)/python -m pytest -q tests/e2e -k "screenshot or heatmap_reachability or flow_panel_truncates or population_scatter or same_input_through_each"

clean:
	rm -rf $(VENV) frontend/node_modules .pytest_cache
