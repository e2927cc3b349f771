"""Bad input is one line naming the key and what is allowed, before Hydra starts and before
any training (in process here; tests/test_train.py runs the CLI's exit 2)."""

from __future__ import annotations

import re

import pytest

from tasks._cli import check_each_job
from training.checks import ConfigError, check_train_config

SWEEP = ["-m", "sweep=lr_wd"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["foo=1"], "foo is not a key of train's config (to add a new key: +foo=..."),
        (["model.channels=0"], "model.channels must be an integer >= 1, got 0"),
        (["model=mlp", "model.hidden=[256,0]"], "model.hidden must be an integer >= 1, got 0"),
        (["data.split_seed=abc"], "data.split_seed must be an integer >= 0, got 'abc'"),
        (["lr_estimate=maybe"], "lr_estimate must be true or false, got 'maybe'"),
        (["checkpoint.every=abc"], "checkpoint.every must be an integer >= 0, got 'abc'"),
        (["checkpoint.every=-1"], "checkpoint.every must be an integer >= 0, got -1"),
        (["schedule=step", "schedule.milestones=[0.9,0.1]"], "milestones must be increasing"),
        (
            [*SWEEP, "hydra.sweeper.n_trials=abc"],
            "hydra.sweeper.n_trials=abc: Value 'abc' of type 'str' could not be converted to Integer",
        ),
        (
            [*SWEEP, "hydra.sweeper.rungs=[1,3]"],
            "hydra.sweeper.rungs moved: hydra/sweeper/supersweep_scheduler=rungs hydra.sweeper.scheduler.rungs=[1,3]",
        ),
        (
            [*SWEEP, "hydra.sweeper.range_test=x.json"],
            "hydra.sweeper.range_test moved: hydra.sweeper.space.range_test",
        ),
        # the campaign's cases (issue 38): each was a traceback or Hydra's multi-line error
        (
            [*SWEEP, "hydra.sweeper.jobs.trial_timeout_s=inf"],
            "hydra.sweeper.jobs.trial_timeout_s must be null or seconds > 0, got inf",
        ),
        (
            [*SWEEP, "hydra/sweeper/supersweep_scheduler=rungs", "hydra.sweeper.scheduler.rungs=5"],
            "hydra.sweeper.scheduler.rungs must be a list of increasing epochs, e.g. [1,3], got 5",
        ),
        (
            [*SWEEP, "+hydra.sweeper.space.foo=1"],
            "hydra.sweeper.space.foo is not a setting; allowed: range_test, range_test_overrides,",
        ),
        (
            [*SWEEP, "+hydra.sweeper.faults.retry=true"],
            "hydra.sweeper.faults.retry is not a setting; did you mean hydra.sweeper.faults.retry_failed?",
        ),
        (
            [*SWEEP, "hydra.sweeper.scheduler._target_=no.such.Scheduler"],
            "hydra.sweeper.scheduler._target_=no.such.Scheduler: no such class",
        ),
        (
            [
                *SWEEP,
                "hydra/sweeper/supersweep_scheduler=rungs",
                "+hydra.sweeper.scheduler.rung=[1]",
            ],
            "hydra.sweeper.scheduler.rung is not a setting; did you mean hydra.sweeper.scheduler.rungs",
        ),
        (
            [
                *SWEEP,
                "hydra.sweeper.space.range_test=auto",
                "hydra.sweeper.space.range_test_overrides=['num_itr=20']",
            ],
            "hydra.sweeper.space.range_test_overrides: range test override 'num_itr=20': num_itr is not a setting of the range test; did you mean num_iter?",
        ),
        (
            [*SWEEP, "hydra.sweeper.n_trial=4"],
            "hydra.sweeper.n_trial is not a setting of the sweeper; did you mean hydra.sweeper.n_trials?",
        ),
        (
            [*SWEEP, "hydra.sweeper.jobs.in_flight=maybe"],
            "hydra.sweeper.jobs.in_flight must be true or false, got 'maybe'.",
        ),
        (
            [*SWEEP, "hydra.sweeper.faults.retry_failed=2"],
            "hydra.sweeper.faults.retry_failed must be true or false, got '2'.",
        ),
        (
            [*SWEEP, "hydra.sweeper.params.wd=choice(1e-4,1e-3)"],
            "hydra.sweeper.params.wd=choice(1e-4,1e-3): Hydra does not sweep its own config; quote",
        ),
        (
            ["hydra.searchpath=[file:///nonexistent/conf]"],
            "hydra.searchpath: /nonexistent/conf is not a directory.",
        ),
        (
            [*SWEEP, "hydra/sweeper/supersweep_sampler=foo"],
            "Available options in 'hydra/sweeper/supersweep_sampler': cmaes gp grid",
        ),
        (
            [*SWEEP, "hydra.sweeper.storage=${oc.env:NO_SUCH_VAR}"],
            "hydra.sweeper.storage: KeyError raised while resolving interpolation: \"Environment variable 'NO_SUCH_VAR' not found\"",
        ),
        (["-m", "wd=1e-4,-1", "epochs=1"], "wd must be a finite number >= 0, got -1"),
        (
            ["-m", "hydra.sweeper.n_trials=3"],
            "hydra.sweeper.n_trials is a setting of the supersweep sweeper, and this multirun uses another: add hydra/sweeper=supersweep",
        ),
        (
            ["hydra.run.dir=/dev/null/run"],
            "hydra.run.dir=/dev/null/run cannot be created: /dev/null is a file.",
        ),
        ([*SWEEP, "~wd"], "wd must be set (a run needs wd)"),
        (
            [*SWEEP, "hydra.sweeper.sampler.seed=abc"],
            "hydra.sweeper.sampler.seed=abc: Value 'abc' of type 'str' could not be converted to Integer",
        ),
        (
            [*SWEEP, "hydra.sweeper.space.lr_levels=[a,b]"],
            "hydra.sweeper.space.lr_levels=[a,b]: Value 'a' of type 'str' could not be converted to Float",
        ),
        (
            [*SWEEP, "wd=choice()"],
            "Error parsing override 'wd=choice()' ValueError while evaluating 'choice()': empty choice is not legal",
        ),
        ([*SWEEP, "hydra.sweeper.params.wd=foo(1)"], "Unknown function 'foo'"),
        (
            [*SWEEP, "hydra/sweeper/supersweep_pruner=foo"],
            "Available options in 'hydra/sweeper/supersweep_pruner': hyperband median none",
        ),
    ],
)
def test_bad_input_is_one_line_before_anything_runs(args, message, monkeypatch):
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    with pytest.raises(ConfigError) as e:
        check_each_job(args, "train", check_train_config)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("app", "check", "args", "message"),
    [
        (
            "report",
            "tasks.report:check_report_config",
            ["images=maybe"],
            "images must be null (when a Chrome is found), true or false",
        ),
        ("report", None, ["foo=1"], "foo is not a key of report's config"),
        (
            "plot_schedule",
            "training.checks:check_schedule_plot_config",
            ["momentum=2"],
            "momentum must be a finite number >= 0 and <= 0.999999, got 2",
        ),
    ],
)
def test_the_other_apps_refuse_bad_input_in_one_line(app, check, args, message):
    from hydra.utils import get_method

    with pytest.raises(ConfigError, match=re.escape(message)):
        check_each_job(args, app, get_method(check.replace(":", ".")) if check else None)


def test_good_input_passes_and_each_job_is_checked_once():
    check_each_job(["-m", "wd=1e-4,1e-3", "epochs=1"], "train", check_train_config)
    check_each_job(
        [*SWEEP, "hydra.sweeper.n_trials=3", "wd=tag(log, interval(1e-5, 1e-2))"],
        "train",
        check_train_config,
    )


def test_an_output_dir_that_cannot_be_written_is_one_line(tmp_path):
    """An immutable dir (``chattr +i``: refused even to root, as a read-only mount is)."""
    import shutil
    import subprocess

    locked = tmp_path / "locked"
    locked.mkdir()
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(locked)]).returncode:
        pytest.skip("this file system has no immutable flag (chattr)")
    try:
        for args in (
            [f"hydra.run.dir={locked}/run"],
            ["-m", "epochs=1", f"hydra.sweep.dir={locked}/sweep"],
        ):
            with pytest.raises(
                ConfigError, match="cannot be written: .*locked: Operation not permitted"
            ):
                check_each_job(args, "train", check_train_config)
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)


@pytest.mark.parametrize("batch", ["64,100000", "choice(64, 100000)"])
def test_a_batch_larger_than_the_data_stops_before_the_first_job(batch, monkeypatch):
    from tasks.train import check_job

    args = ["-m", "data=digits", "model=mlp", "epochs=1", f"batch_size={batch}"]
    monkeypatch.setattr("sys.argv", ["tasks.train", *args])
    with pytest.raises(
        ConfigError,
        match="batch_size=100000 is larger than the 1294 training samples of data=digits",
    ):
        check_each_job(args, "train", check_job)


@pytest.mark.parametrize(
    "args,hint",
    [
        (["lr=0.1"], "lr is not a key of train's config; did you mean max_lr"),
        (["epoch=3"], "did you mean epochs?"),
        (["optimizer.momentun=0.8"], "did you mean optimizer.momentum?"),
    ],
)
def test_an_unknown_key_gets_did_you_mean(args, hint):
    with pytest.raises(ConfigError, match=re.escape(hint)):
        check_each_job(args, "train", check_train_config)


@pytest.mark.slow
@pytest.mark.parametrize(
    "app,words",
    [
        ("tasks.train", ["one training run", "Examples:", "sweep=lr_wd"]),
        ("tasks.range_test", ["LR range test", "range_test.json", "Examples:"]),
        ("tasks.report", ["report.html", "sweep_dir=", "Examples:"]),
    ],
)
def test_help_says_what_each_app_does(app, words):
    import subprocess
    import sys

    from .conftest import ROOT

    p = subprocess.run(
        [sys.executable, "-m", app, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert p.returncode == 0, p.stderr
    for w in words:
        assert w in p.stdout
    assert "== Config ==" not in p.stdout  # not Hydra's 100 lines of resolved config
    if app == "tasks.report":
        assert "model:" not in p.stdout  # no training groups in the report's help


def test_a_sampler_beside_the_balance_design_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="enqueues every run itself: the sampler TPESampler"):
        check_each_job(
            ["-m", "sweep=balance", "hydra/sweeper/supersweep_sampler=tpe"], "train", None
        )


def test_no_sampler_beside_a_scheduler_that_needs_one_is_refused_in_one_line():
    """sampler=none is the balance design's (it enqueues every run itself); with full runs
    nothing would propose a trial."""
    with pytest.raises(ConfigError, match="supersweep_sampler=none proposes no trial"):
        check_each_job(
            ["-m", "hydra/sweeper=supersweep", "hydra/sweeper/supersweep_sampler=none"],
            "train",
            None,
        )
