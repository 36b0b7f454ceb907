# tocsin — the two commands: `make run` and `make test`.
# Both create .venv when it is missing (Python 3.11+), install what they need, and go.
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
# `make run` installs only what running needs; `make test` (and `make install`) everything
# the tests need. Every package comes from the default package index.
RUN_EXTRAS ?= pipeline,cpu
EXTRAS     ?= pipeline,cpu,export,dev
RUN_STAMP   = $(VENV)/.tocsin-run-installed
STAMP       = $(VENV)/.tocsin-installed

.PHONY: run test check lint format typecheck test-fast bench install clean docs

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml setup.py streams/_avro_writer.c streams/_avro_reader.c | $(VENV)/bin/python
	$(PY) -m pip install -q -e ".[$(RUN_EXTRAS)]"
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml setup.py streams/_avro_writer.c streams/_avro_reader.c | $(VENV)/bin/python
	# torch 2.13.0 (export and its tests) is the CPU build; a bare `torch` would pull a
	# multi-GB CUDA build.
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	@touch $(STAMP) $(RUN_STAMP)

install: $(STAMP)

run: $(RUN_STAMP)
	$(VENV)/bin/tocsin demo

# docs/configuration.md from the settings model (a test fails when it is stale)
docs: $(RUN_STAMP)
	$(PY) -m tocsin.config_reference --write

check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: check
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

$(VENV)/.tocsin-bench: $(STAMP)
	$(PY) -m pip install -q -e ".[$(EXTRAS),bench]"
	@touch $@

# Every benchmark against its baseline, in the same run; results in bench/results/*.json.
bench: $(VENV)/.tocsin-bench
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .tocsin .pytest_cache .ruff_cache .mypy_cache
