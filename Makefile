# The README's first two commands: `make search` (the main job) and `make test`.
# Each creates the project virtualenv on first use and installs what it needs.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
SEARCH_ARGS ?=

.PHONY: search test lint typecheck check venv clean

$(STAMP): pyproject.toml
	command -v dot >/dev/null || (apt-get update -qq && apt-get install -y -qq graphviz)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

search: $(STAMP)
	$(BIN)/nao search $(SEARCH_ARGS)

# pytest-xdist: one worker per core (at most 4), each test file (tests/conftest.py) on one worker
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --maxprocesses=4 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy src/nao_kfp

check: lint typecheck test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
