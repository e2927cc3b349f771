# Set-up is part of every target: a fresh machine with Python 3.11 + pip needs nothing else.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
REPORT_ARGS ?=
PYTEST_ARGS ?=
DEMO_STUDY := demo-$(shell date +%Y%m%d-%H%M%S)

.PHONY: demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.installed  ## the main job on MNIST-1D: LR range test -> seeded, pruned Optuna sweep -> report
	$(PY) -m tasks.train -m sweep=lr_wd hydra.sweeper.study_name=$(DEMO_STUDY) hydra.sweep.dir=multirun/$(DEMO_STUDY) $(ARGS)
	$(PY) -m tasks.report study_name=$(DEMO_STUDY) hydra.run.dir=multirun/$(DEMO_STUDY)/report $(REPORT_ARGS)

test: $(VENV)/.installed  ## the whole test suite, slow end-to-end tests included
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(PY) bench/bench_train.py $(ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
