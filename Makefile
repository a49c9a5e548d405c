# Two entry points for a fresh machine (README.md): `make demo` and `make test`.
# Each creates the virtual environment it needs, so CI and newcomers run the same thing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test schema clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The tutorial's two runs, as far as this build goes: validate both specs and show
# the resolved plan of each (the variant's plan marks the parameters it changed).
demo: setup
	$(BIN)/runner validate specs/*.yaml
	$(BIN)/runner plan specs/mnist.yaml
	$(BIN)/runner plan specs/mnist.single-image.yaml

test: setup
	$(BIN)/python -m pytest -q
	$(BIN)/lint-imports

schema: setup
	$(BIN)/runner schema --out schema

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
