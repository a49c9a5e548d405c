# Two entry points for a fresh machine (README.md): `make demo` and `make test`.
# Each creates the virtual environment it needs, so CI and newcomers run the same thing.
PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
# The Azure ML SDKs pin numpy/pandas below the local engine's: they get their own venv.
AZ_VENV  ?= .venv-azure
AZ_BIN   := $(AZ_VENV)/bin

.PHONY: setup setup-azure azurite demo test tmux chromium schema bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,typecheck,tabular,tensorflow,report,ray,store]'
	touch $@

setup-azure: $(AZ_VENV)/.installed

$(AZ_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(AZ_VENV)
	$(AZ_BIN)/python -m pip install --quiet --upgrade pip
	$(AZ_BIN)/python -m pip install --quiet -e '.[dev,wire,azureml,azureml-v2]'
	touch $@

# Azurite, the Azure Storage emulator the wire tests (tests/azureml/test_wire_*.py) start
# and stop themselves: blobs the SDKs upload land in it. npm package, pinned, in .azurite/;
# a machine without npm gets Node.js from apt (Debian's nodejs and npm packages).
AZURITE_VERSION := 3.37.0
azurite: .azurite/.installed

.azurite/.installed:
	@command -v npm >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm; }
	npm install --silent --no-audit --no-fund --prefix .azurite azurite@$(AZURITE_VERSION)
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

# Everything but tests/azureml in .venv; tests/azureml (the real Azure ML SDKs and our
# sessions with only the network replaced, blobs in Azurite) in .venv-azure, where a
# missing SDK or Azurite fails instead of skipping. Then the layer contract
# (import-linter) and `mypy --strict` over runner/ ([tool.mypy]).
test: setup setup-azure tmux chromium azurite
	$(BIN)/python -m pytest -q
	RUNNER_AZURE_TESTS=1 $(AZ_BIN)/python -m pytest -q -p no:warnings tests/azureml
	$(BIN)/lint-imports
	$(BIN)/mypy

# The progress bar is tested in a real terminal (tests/cli/test_progress_tmux.py fails
# without tmux): a fresh machine gets it from apt, as root or through sudo.
tmux:
	@command -v tmux >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq tmux; }

# `runner report`'s page is opened in a real browser (tests/report/test_report.py fails
# without one): Debian's headless-capable chromium, from apt, as root or through sudo.
chromium:
	@command -v chromium >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

schema: setup
	$(BIN)/runner schema --out schema

# Benchmarks (bench/README.md): results go to bench/results/. Ray Data, the peer, is
# installed here only.
bench: setup
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench dispatch
	$(BIN)/python -m bench mnist
	$(BIN)/python -m bench scale
	$(BIN)/python -m bench resume
	$(BIN)/python -m bench startup
	$(BIN)/python -m bench endtoend
	$(BIN)/python -m bench incremental
	$(BIN)/python -m bench ray

clean:
	rm -rf $(VENV) $(AZ_VENV) .azurite .pytest_cache .hypothesis .runner data models
