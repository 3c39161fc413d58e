# The README's first two commands: `make search` (the main job) and `make test`.
# Each creates the project virtualenv on first use and installs what it needs.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
SEARCH_ARGS ?=

.PHONY: search test lint typecheck docs check venv clean

# Katib's gRPC stubs (`nao katib`, nao_kfp.katib.STUBS) go in with --no-deps: their wheel pins
# protobuf<5, which kfp and kserve exclude (pyproject.toml's katib extra says more).
$(STAMP): pyproject.toml src/nao_kfp/katib/__init__.py
	# graphviz: the report's cell diagrams; qemu-user: the test that runs the controller on an
	# emulated AMD CPU (portable numerics, tests/test_reproduce.py)
	(command -v dot && command -v qemu-x86_64) >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq graphviz qemu-user)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps "$$($(BIN)/python -c 'from nao_kfp.katib import STUBS; print(STUBS)')"
	touch $(STAMP)

venv: $(STAMP)

search: $(STAMP)
	$(BIN)/nao search $(SEARCH_ARGS)

# pytest-xdist: one worker per core (at most 4), each test file (tests/conftest.py) on one worker;
# the 20 slowest tests listed at the end
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --maxprocesses=4 --dist loadfile --durations=20

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
