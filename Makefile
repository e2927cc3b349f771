# Set-up is part of every target: a fresh machine with Python 3.11 + pip needs nothing else.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
SEARCH_ARGS ?=
BALANCE_ARGS ?=
REPORT_ARGS ?=
PYTEST_ARGS ?=
DEMO_STUDY := demo-$(shell date +%Y%m%d-%H%M%S)
DEMO_DIR ?= multirun/$(DEMO_STUDY)
# the demo's trials run on every core of the box (joblib workers, one torch thread each)
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
PARALLEL := hydra/launcher=joblib hydra.launcher.n_jobs=$(WORKERS) hydra.sweeper.n_jobs=$(WORKERS)

.PHONY: demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# ARGS go to both sweeps (e.g. data=digits), SEARCH_ARGS / BALANCE_ARGS to one (e.g. hydra.sweeper.n_trials=40)
demo: $(VENV)/.installed  ## the main job on MNIST-1D: LR range test -> seeded search (full runs, the model's answer) -> balance study (same range test) -> reports
	$(PY) -m tasks.train -m sweep=lr_wd hydra.sweeper.study_name=$(DEMO_STUDY) hydra.sweep.dir=$(DEMO_DIR)/search $(PARALLEL) $(ARGS) $(SEARCH_ARGS)
	$(PY) -m tasks.train -m sweep=balance hydra.sweeper.study_name=$(DEMO_STUDY)-balance hydra.sweeper.space.range_test=$(DEMO_DIR)/search/range_test \
		hydra.sweep.dir=$(DEMO_DIR)/balance hydra.sweeper.scheduler.max_runs=105 $(PARALLEL) $(ARGS) $(BALANCE_ARGS)
	$(PY) -m tasks.report study_name=$(DEMO_STUDY) hydra.run.dir=$(DEMO_DIR)/search/report $(REPORT_ARGS)
	$(PY) -m tasks.report study_name=$(DEMO_STUDY)-balance compare_with=$(DEMO_STUDY) hydra.run.dir=$(DEMO_DIR)/balance/report $(REPORT_ARGS)

test: $(VENV)/.installed  ## the whole test suite, slow end-to-end tests included
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed  ## ruff (format at 100 columns, lint, complexity C901) and mypy, as pre-commit runs them
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: $(VENV)/.installed
	$(PY) bench/bench_train.py $(ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
