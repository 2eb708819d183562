# The two commands: `make demo` and `make test`. Each creates .venv when missing, from the lock.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# uv installs the locked environment; it lives in a venv of its own, pinned with hashes.
TOOLS := .venv-tools
UV := $(TOOLS)/bin/uv
LATEST := .venv-latest
# Never a Python that uv downloads: the interpreter is the one named by PYTHON.
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test lint typecheck docs pytest test-latest lock bench load clean

$(UV): requirements/uv.txt
	test -x $(TOOLS)/bin/python || python3 -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --require-hashes -r requirements/uv.txt
	touch $(UV)

# Exactly the locked versions (uv.lock, with hashes), extras and all; anything else is removed.
$(STAMP): pyproject.toml uv.lock $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --locked --extra dev --python $(PYTHON) --quiet
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/cognito-guard demo

test: lint typecheck docs pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy --strict cognito_guard

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir .site

# The suite in parallel (pytest-xdist), a file to a worker: its real servers each take a port of
# their own. At most four workers, so that a large machine does not start dozens of clusters.
PYTEST_WORKERS ?= -n auto --maxprocesses 4 --dist loadfile

pytest: $(STAMP)
	$(PY) -m pytest $(PYTEST_WORKERS)

# The newest releases pyproject.toml allows, as a user installing today gets them: a separate
# environment, upgraded at every run, then the type check and the whole suite.
test-latest: $(UV)
	test -x $(LATEST)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(LATEST)
	$(UV) pip install --quiet --python $(LATEST)/bin/python --upgrade --refresh -e '.[dev]'
	@echo "newest releases: $$($(UV) pip freeze --python $(LATEST)/bin/python | tr '\n' ' ')"
	$(LATEST)/bin/python -m mypy --strict cognito_guard
	$(LATEST)/bin/python -m pytest $(PYTEST_WORKERS)

# Refresh the lock: every package to its newest allowed release (and uv itself).
lock: $(UV)
	$(UV) lock --upgrade
	$(UV) pip compile --quiet --generate-hashes --universal --upgrade requirements/uv.in \
		-o requirements/uv.txt

bench: $(STAMP)
	$(PY) benchmarks/verify.py
	$(PY) benchmarks/adapters.py
	$(PY) benchmarks/m2m_cache.py
	$(PY) benchmarks/revocation.py
	$(PY) benchmarks/revocation_cluster.py

# Each example app under a real server, a token mix and fault drills (docs/load.md); ~10 minutes.
# LOAD_ARGS passes options: make load LOAD_ARGS="--frameworks flask --json load.json"
load: $(STAMP)
	$(PY) benchmarks/load.py $(LOAD_ARGS)

clean:
	rm -rf $(VENV) $(LATEST) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache .hypothesis .site
