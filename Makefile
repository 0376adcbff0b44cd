# The two commands a new user runs (see README):
#   make demo   set up everything, train a model on bundled data, write runs/demo/
#   make test   set up everything, run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-slow docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@command -v dot >/dev/null 2>&1 || bash scripts/install-graphviz.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: setup
	$(BIN)/gendsl demo --out runs/demo

# two workers (pytest-xdist): CI and the dev machine have two cores
test: setup
	$(BIN)/python -m pytest -q -n 2

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict

clean:
	rm -rf $(VENV) runs .pytest_cache
