# failover: two commands for a newcomer, `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?=
CONFIG_ARG := $(if $(CONFIG),--config $(CONFIG),)

.PHONY: run test venv lint typecheck imports pytest clean

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

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage
