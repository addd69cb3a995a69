# pipewatch — the two commands of the quick start are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXAMPLE := dbt_example_project
DBT := $(BIN)/dbt --no-use-colors
DBT_FLAGS := --project-dir $(EXAMPLE) --profiles-dir $(EXAMPLE)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1

.PHONY: venv demo test lint typecheck unit bench clean

# The venv is rebuilt only when pyproject.toml changes; the stamp file records the last install.
$(BIN)/.pipewatch-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

venv: $(BIN)/.pipewatch-installed

# dbt exits 1 when a node fails (the demo plants failures on purpose) and 2 when dbt itself crashes;
# pipewatch exits 1 when its gate fails and 2/3 on bad input or a warehouse error. Only crashes fail the demo.
demo: venv
	if [ -f $(EXAMPLE)/packages.yml ]; then $(DBT) deps $(DBT_FLAGS) --quiet; fi
	$(DBT) seed $(DBT_FLAGS) --quiet; rc=$$?; [ $$rc -le 1 ] || exit $$rc
	$(DBT) source freshness $(DBT_FLAGS) --quiet; rc=$$?; [ $$rc -le 1 ] || exit $$rc
	$(DBT) build $(DBT_FLAGS); rc=$$?; [ $$rc -le 1 ] || exit $$rc
	$(BIN)/pipewatch after-run --project-dir $(EXAMPLE); rc=$$?; [ $$rc -le 1 ] || exit $$rc

lint: venv
	$(BIN)/ruff check pipewatch tests benchmarks
	$(BIN)/ruff format --check pipewatch tests benchmarks

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/python -m pytest -q

test: lint typecheck unit

bench: venv
	$(BIN)/python benchmarks/bench_artifacts.py

clean:
	rm -rf $(EXAMPLE)/target $(EXAMPLE)/logs $(EXAMPLE)/dbt_packages .pytest_cache .mypy_cache .ruff_cache
