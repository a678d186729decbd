# `make test` and `make demo` work on a fresh clone: they create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Branch coverage of the product's packages (not kubesim, devstack, bench or the tests).
COVERAGE := --cov --cov-report=term
# The integration tests mostly wait (simulated boots, queue hops, processes starting): four
# workers keep two cores busier than three (223 s instead of 261 here) or two.
TEST_WORKERS ?= 4

.PHONY: test test-all test-fast lint format demo bench bench-full kube-assets clean

# lessonq, and beside it its development tools (kubesim, the development stack), each a
# project of its own so that neither ships with lessonq. uv installs them: the same versions
# as pip, in a fraction of its time. Compiled, as pip does: with PYTHONDONTWRITEBYTECODE set
# (our machines set it) every worker and CLI process would compile celery and the kubernetes
# client again.
$(STAMP): pyproject.toml kubesim/pyproject.toml devstack/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q uv
	$(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) -e '.[test]' -e ./kubesim -e ./devstack
	touch $@

lint: $(STAMP)
	$(PY) -m pip check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Everything: the lint, and beside it the fast tests and the integration tests (real Redis,
# workers, kubesim, a real control plane). mypy holds one core for half a minute while the tests
# mostly wait: side by side they end 20 s sooner.
test: $(STAMP)
	$(MAKE) --no-print-directory -j2 --output-sync=target lint test-all

test-all: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) $(COVERAGE)

# The logic only, in seconds: no workers, no kubesim, no subprocesses.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not integration" $(COVERAGE)

demo: $(STAMP)
	$(PY) -m devstack demo

# Quick mode, about three minutes on 2 cores; bench/results/latest.json and a Markdown table.
bench: $(STAMP)
	$(PY) -m bench

# Longer runs; also rewrites BENCHMARKS.md.
bench-full: $(STAMP)
	$(PY) -m bench --full

# The real control plane's binaries for tests/realcluster and the benchmark (README), unpacked
# once per machine, outside the clone.
KUBE_SHARED ?= ../shared/kube
kube-assets: $(STAMP)
	$(PY) -m devstack.kube_assets $(KUBE_SHARED)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
