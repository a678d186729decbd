# `make test` and `make demo` work on a fresh clone: they create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: test lint demo bench bench-full clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

lint: $(STAMP)
	$(PY) -m pip check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -n 2

demo: $(STAMP)
	$(PY) -m workers.demo

# Quick mode, under two minutes; bench/results/latest.json and a Markdown table.
bench: $(STAMP)
	$(PY) -m bench

# Longer runs; also rewrites BENCHMARKS.md.
bench-full: $(STAMP)
	$(PY) -m bench --full

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
