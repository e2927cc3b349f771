# Set-up is part of every target: a fresh machine with Python 3.11 + pip needs nothing else.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
PYTEST_ARGS ?=

.PHONY: demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.installed  ## the main job: one-cycle CNN on MNIST-1D
	$(PY) -m tasks.train $(ARGS)

test: $(VENV)/.installed  ## the whole test suite, slow end-to-end tests included
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(PY) bench/bench_train.py $(ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
