# The two commands of the README: `make demo` and `make test`.
# Both create .venv when it is missing; nothing has to be installed by hand.
# `make matrix` repeats the suite on every other claimed Python and at the lowest allowed
# dependency versions (scripts/test-matrix.sh); .ci/run runs it after `make test`.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
export NO_MKDOCS_2_WARNING := 1
# The suite runs in one pytest-xdist worker per core: most of its time is spent waiting on
# FFmpeg, PostgreSQL and worker processes, and on a shared machine two runnable workers get
# twice the CPU share of one. The Ray tests share one worker (xdist_group), so one cluster. `make pytest PYTEST_WORKERS=0` runs it in a single process.
PYTEST_WORKERS ?= auto
PYTEST = $(BIN)/python -m pytest --numprocesses=$(PYTEST_WORKERS) --dist=loadgroup

.PHONY: demo test install-dev system-deps lint typecheck pytest docs bench clean matrix lowest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the dependency list changes.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,docs]'
	bash scripts/install-pgserver.sh $(BIN)/python
	touch $@

# The lowest versions pyproject.toml allows for the direct dependencies.
$(VENV)/.installed-lowest: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python --resolution lowest-direct -e '.[dev]'
	bash scripts/install-pgserver.sh $(BIN)/python
	touch $@

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local]'
	touch $@

install-dev: $(VENV)/.installed-dev

system-deps:
	bash scripts/install-system-deps.sh

# The main job on the embedded default (SQLite): generate a sample clip, process it.
demo: $(VENV)/.installed system-deps
	$(BIN)/python examples/quickstart.py

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy

# pytest exits 5 when it collected no test: that is a broken run, not a pass.
pytest: install-dev system-deps
	$(PYTEST)

docs: install-dev
	$(BIN)/mkdocs build --strict --site-dir $(VENV)/site

test: lint typecheck pytest docs

matrix: system-deps
	bash scripts/test-matrix.sh

# The suite and the quickstart at the lowest allowed versions, in its own VENV.
lowest: $(VENV)/.installed-lowest system-deps
	$(BIN)/python examples/quickstart.py
	$(PYTEST)

bench: install-dev
	$(BIN)/python benchmarks/bench_batch.py

clean:
	rm -rf $(VENV) .venv-3.* .venv-lowest site .pytest_cache .mypy_cache .ruff_cache
