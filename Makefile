# Two set-up commands for a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs the pinned dependencies itself.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: demo test test-fast lint clean

$(VENV)/.runtime-installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.runtime-installed requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

# The main job on an embedded default: the bundled model on scikit-image's astronaut photo,
# or on INPUT=path (a photo, folder or video).
demo: $(VENV)/.runtime-installed
	$(VENV)/bin/facenet2expnet demo $(if $(INPUT),--input "$(INPUT)",)

# pytest exits 5 when it collected no test: that is a failure here, not a pass.
test: $(VENV)/.test-installed
	$(PY) -m pytest -q tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# The inner loop: everything but the tests marked slow (CI still runs them all, through `make test`).
test-fast: $(VENV)/.test-installed
	$(PY) -m pytest -q -m "not slow" tests

# ruff: lint (pyflakes, pycodestyle, import order, bugbear) and format, line length 120 (pyproject.toml)
lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
