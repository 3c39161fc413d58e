# The README's first two commands: `make search` (the main job) and `make test`.
# Each creates the project virtualenv on first use and installs what it needs.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
SEARCH_ARGS ?=

.PHONY: search test lint typecheck docs check venv clean

$(STAMP): pyproject.toml
	command -v dot >/dev/null || (apt-get update -qq && apt-get install -y -qq graphviz)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

search: $(STAMP)
	$(BIN)/nao search $(SEARCH_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy src/nao_kfp

# the user guide into build/site; --strict: a broken link or a page outside the nav fails
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

check: lint typecheck test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
