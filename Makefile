# The front door: `make run` and `make test` work from a fresh clone with only Python 3.11+.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run cluster install test test-postgres lint bench clean

run: $(STAMP)
	$(BIN)/chatapp

# PostgreSQL, Redis, CLUSTER_NODES chatapp nodes and nginx on this machine (docs/scaling.md);
# needs Debian's postgresql, redis-server and nginx-light. Ctrl-C stops it all.
CLUSTER_NODES ?= 3
cluster: $(STAMP)
	$(BIN)/python -m chatapp.cluster --nodes $(CLUSTER_NODES) $(CLUSTER_ARGS)

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint,speed]'
	touch $(STAMP)

# Two passes: the whole suite on SQLite, then (where Debian's PostgreSQL is installed) again on
# PostgreSQL with the backend's own tests. Under CI a missing PostgreSQL is a failure.
PG_INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	@if [ -n "$(PG_INITDB)" ]; then $(MAKE) --no-print-directory test-postgres; \
	elif [ -n "$$CI" ]; then echo "PostgreSQL not installed: CI must run the PostgreSQL pass" >&2; exit 1; \
	else echo "PostgreSQL not installed: skipping the PostgreSQL pass"; fi

# The suite on a throwaway PostgreSQL server (tests/pg.py), one fresh database per test.
test-postgres: $(STAMP)
	CHATAPP_TEST_BACKEND=postgres $(BIN)/python -m pytest tests --ignore=tests/browser $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check chatapp tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache tests/screenshots bench/results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
