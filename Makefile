# Every target that runs code depends on .venv/.installed, which is rebuilt only when
# pyproject.toml changes: the first `make demo` or `make test` sets everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench screenshots clean dist

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tenantboard --demo

test: $(STAMP)
	$(BIN)/ruff check tui tests bench
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check tui tests bench
	$(BIN)/ruff format --check tui tests bench

bench: $(STAMP)
	$(BIN)/python bench/run.py

screenshots: $(STAMP)
	$(BIN)/python tests/make_screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache

# The wheel and the sdist a team installs from (docs/deploy.md), built with this .venv's
# setuptools: no download.
dist: $(STAMP)
	$(BIN)/python -m build --no-isolation --outdir dist
