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

.PHONY: venv demo test lint typecheck unit bench clean test-latest lock spark-venv java demo-spark

# The venv installs the versions in constraints.txt (the ones the suite was last green with), so a
# fresh machine gets what CI tested, whatever the registries serve today. It is reinstalled only when
# pyproject.toml or the constraints change; the stamp file records the last install.
CONSTRAINTS ?= constraints.txt
PIP_FLAGS := --quiet --disable-pip-version-check
$(BIN)/.pipewatch-installed: pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) -c $(CONSTRAINTS) -e '.[dev]'
	touch $@

venv: $(BIN)/.pipewatch-installed

# Spark, the third engine: the `spark` extra (pyspark, dbt-spark's session method) and a JVM. Java comes
# from Debian when there is none (as root, like CI; Spark 4 runs on 17 or 21, whichever Debian's default is).
$(BIN)/.pipewatch-spark-installed: $(BIN)/.pipewatch-installed
	$(BIN)/python -m pip install $(PIP_FLAGS) -c $(CONSTRAINTS) -e '.[dev,spark]'
	touch $@

spark-venv: $(BIN)/.pipewatch-spark-installed

java:
	@command -v java >/dev/null || { echo "installing Java from Debian (default-jre-headless)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null; }

SPARK_READY := $(shell command -v java >/dev/null && test -x $(BIN)/python && $(BIN)/python -c 'import pyspark' 2>/dev/null && echo yes)

# dbt exits 1 when a node fails (the demo plants failures on purpose) and 2 when dbt itself crashes;
# pipewatch exits 1 when its gate fails and 2/3 on bad input or a warehouse error. Only crashes fail the demo.
demo: venv
	if [ -f $(EXAMPLE)/packages.yml ]; then $(DBT) deps $(DBT_FLAGS) --quiet; fi
	$(DBT) seed $(DBT_FLAGS) --quiet; rc=$$?; [ $$rc -le 1 ] || exit $$rc
	$(DBT) source freshness $(DBT_FLAGS) --quiet; rc=$$?; [ $$rc -le 1 ] || exit $$rc
	$(DBT) build $(DBT_FLAGS); rc=$$?; [ $$rc -le 1 ] || exit $$rc
	$(BIN)/pipewatch after-run --project-dir $(EXAMPLE); rc=$$?; [ $$rc -le 1 ] || exit $$rc

# The demo on Spark (local[2], in the dbt and pipewatch processes; README "Spark"): the same seed, build
# and after-run as `make demo`, then the rules and the dbt tests pushed down into Spark.
demo-spark: spark-venv java
	DBT_TARGET=spark $(MAKE) --no-print-directory demo
	DBT_TARGET=spark $(BIN)/pipewatch check --project-dir $(EXAMPLE) --dbt-tests --samples 2; rc=$$?; [ $$rc -le 1 ] || exit $$rc

lint: venv
	$(BIN)/ruff check pipewatch tests benchmarks
	$(BIN)/ruff format --check pipewatch tests benchmarks

typecheck: venv
	$(BIN)/mypy

unit: venv
	@[ "$(SPARK_READY)" = yes ] || echo "note: the Spark tests (-m spark) skip: no java or no pyspark here; \
	make spark-venv java enables them"
	$(BIN)/python -m pytest -q

test: lint typecheck unit

# The newest versions the ranges in pyproject.toml allow, in a venv of their own, on purpose: this is
# how a dependency's new release is tried before `make lock` adopts it.
LATEST_VENV := .venv-latest
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install $(PIP_FLAGS) --upgrade -e '.[dev]'
	touch $(LATEST_VENV)/bin/.pipewatch-installed
	$(MAKE) test VENV=$(LATEST_VENV)

# Rewrite constraints.txt from the latest venv (run after `make test-latest` passed).
lock:
	test -x $(LATEST_VENV)/bin/python || { echo "run make test-latest first"; exit 2; }
	{ sed -n '1,/^[^#]/{/^#/p}' $(CONSTRAINTS); \
	  $(LATEST_VENV)/bin/python -m pip freeze --exclude-editable | grep -v -i '^pipewatch'; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

bench: venv
	$(BIN)/python benchmarks/bench_artifacts.py

clean:
	rm -rf $(LATEST_VENV) $(EXAMPLE)/target $(EXAMPLE)/logs $(EXAMPLE)/dbt_packages .pytest_cache .mypy_cache .ruff_cache
