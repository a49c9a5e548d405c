# Two entry points for a fresh machine (README.md): `make demo` and `make test`.
# Each creates the virtual environment it needs, so CI and newcomers run the same thing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test schema bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,tabular,tensorflow]'
	touch $@

# The tutorial's two runs on the local engine: make the digits and the model (offline,
# from scikit-learn's data set), classify every test image, then the single-image variant,
# showing the results of each. A second `make demo` reuses the first run (allow_reuse).
demo: setup
	$(BIN)/runner example mnist
	$(BIN)/runner apply specs/mnist.yaml
	$(BIN)/runner results latest
	$(BIN)/runner apply specs/mnist.single-image.yaml
	$(BIN)/runner results latest

test: setup
	$(BIN)/python -m pytest -q
	$(BIN)/lint-imports

schema: setup
	$(BIN)/runner schema --out schema

# Benchmarks (bench/README.md): results go to bench/results/.
bench: setup
	$(BIN)/python -m bench dispatch
	$(BIN)/python -m bench scale

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .runner data models
