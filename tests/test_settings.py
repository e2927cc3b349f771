"""The sweeper's settings are checked as a whole, before any study is touched: every bad one is
named with what is allowed (in process here; test_sweeper.py runs the one-line exit 2)."""

from __future__ import annotations

import math
import time

import pytest

from sweeper._jobs import GuardedTask, TrialTimeout
from sweeper.settings import (
    NAMES,
    FaultSettings,
    JobSettings,
    SpaceSettings,
    SweeperSettings,
)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"faults": FaultSettings(max_failure_rate=2.0)},
            "max_failure_rate must be a number in [0, 1], got 2.0",
        ),
        (
            {"faults": FaultSettings(max_failure_rate=math.nan)},
            "max_failure_rate must be a number in [0, 1], got nan",
        ),
        (
            {"faults": FaultSettings(max_failure_rate=-1)},
            "max_failure_rate must be a number in [0, 1], got -1",
        ),
        (
            {"faults": FaultSettings(stale_after_s=-1)},
            "stale_after_s must be a number of seconds > 0",
        ),
        ({"n_trials": 0}, "n_trials must be an integer >= 1"),
        ({"n_jobs": 0}, "n_jobs must be an integer >= 1"),
        (
            {"space": SpaceSettings(lr_levels=[math.nan, 0])},
            "lr_levels must be a list of finite log10 offsets",
        ),
        ({"jobs": JobSettings(trial_timeout_s=0)}, "trial_timeout_s must be null or seconds > 0"),
        ({"objectives": {"value": "up"}}, "objectives.value must be maximize or minimize"),
    ],
)
def test_each_bad_setting_is_named_with_what_is_allowed(changes, message):
    problems = SweeperSettings(**changes).problems()
    assert len(problems) == 1 and message in problems[0]


def test_settings_are_grouped_a_dozen_at_the_top():
    assert len(NAMES) <= 12, NAMES


def test_an_old_spelling_is_one_line_naming_its_new_key():
    (margin, rungs) = SweeperSettings().problems({"rungs": [1, 3], "bounds_margin": 0.5})
    assert rungs.startswith("hydra.sweeper.rungs moved: hydra/sweeper/supersweep_scheduler=rungs")
    assert margin == "hydra.sweeper.bounds_margin moved: hydra.sweeper.space.bounds_margin"


def test_a_key_that_is_no_setting_is_named():
    (problem,) = SweeperSettings().problems({"n_trials": 3, "foo": 1, "_target_": "x"})
    assert problem.startswith(
        "hydra.sweeper.foo is not a setting; allowed: sampler, pruner, scheduler"
    )


def test_the_defaults_are_allowed():
    assert SweeperSettings().problems() == []


def test_a_trial_past_its_time_limit_raises_in_the_job_and_the_limit_is_lifted_after():
    task = GuardedTask(lambda cfg: time.sleep(30), timeout_s=0.2)
    start = time.monotonic()
    with pytest.raises(TrialTimeout, match="trial_timeout_s=0.2"):
        task(None)
    assert time.monotonic() - start < 10
    assert GuardedTask(lambda cfg: time.sleep(0.3) or 7, timeout_s=5)(None) == 7
    time.sleep(0.5)  # no alarm left behind


def test_a_job_that_swallows_exceptions_is_still_stopped_at_its_time_limit():
    def stubborn(cfg):
        while True:
            try:
                time.sleep(0.05)
            except Exception:  # a job's own catch-all: the time limit is no Exception
                pass

    start = time.monotonic()
    with pytest.raises(TrialTimeout, match="trial_timeout_s=0.3"):
        GuardedTask(stubborn, timeout_s=0.3)(None)
    assert time.monotonic() - start < 30, "a last guard: the alarm came"
