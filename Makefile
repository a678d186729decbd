# `make test` and `make demo` work on a fresh clone: they create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: test lint demo clean

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

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
