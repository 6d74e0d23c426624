# failover: two commands for a newcomer, `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?=
CONFIG_ARG := $(if $(CONFIG),--config $(CONFIG),)

.PHONY: run test test-fast venv lint typecheck imports pytest clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(BIN)/.installed

# The daemon in the foreground (Ctrl-C stops it). Without CONFIG it watches the real
# platforms of the built-in catalog; `make run CONFIG=config/local.toml` stays on 127.0.0.1.
run: venv
	mkdir -p var
	$(BIN)/failover run $(CONFIG_ARG)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy --strict src

imports: venv
	$(BIN)/lint-imports

pytest: venv
	$(BIN)/pytest

test: lint typecheck imports pytest

# The edit-test loop, under a minute on two cores: the tests not marked slow (end-to-end
# runs, daemons and commands in subprocesses, fuzzing, timeouts waited out, big imports),
# on SQLite only (the contract suites run again on PostgreSQL in `make test`), without
# coverage or the cache. `make test` stays the gate. It makes the venv only when there is
# none: an edit of pyproject.toml does not reinstall in the middle of the loop.
test-fast: $(if $(wildcard $(BIN)/pytest),,venv)
	$(BIN)/pytest -m "not slow and not postgres" -p no:cacheprovider --no-cov -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage
