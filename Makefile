# The two commands: `make run` and `make test`. Both bootstrap from nothing but Python 3.11.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: run test test-fast test-postgres bench install bootstrap browser lint typecheck format clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -e '.[dev,postgres,s3,fleet]'
	touch $@

install: $(VENV)/.installed

bootstrap: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_admin
	$(BIN)/python manage.py ensure_demo_provider

run: bootstrap
	$(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

test: bootstrap browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The browser tests drive Debian's Chromium (never a downloaded browser): installed when missing.
browser:
	@if [ -x /usr/lib/chromium/chromium ] || [ -x /usr/bin/chromium ]; then exit 0; fi; \
	SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO="sudo"; \
	$$SUDO apt-get update -q || true; \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

# Everything but the browser, fleet and storage tests (under 3 minutes; `make test` runs them all).
test-fast: bootstrap
	$(BIN)/python -m pytest -m "not browser and not fleet and not storage" $(PYTEST_ARGS)

# The whole suite again on PostgreSQL (CI runs both). pytest-django creates and drops the test
# database test_<name>; <name> is unique per invocation, so runs sharing a server never clash.
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432
test-postgres: install browser
	DATABASE_URL="$(POSTGRES_URL)/playground_$$(date +%s)_$$$$" $(BIN)/python -m pytest $(PYTEST_ARGS)

# The five figures of BENCHMARKS.md, which it rewrites (minutes; not part of `make test`).
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# mypy with django-stubs over playground/ and fakegateway/ ([tool.mypy] in pyproject.toml).
typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache
