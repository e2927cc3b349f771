"""The sweep loop in this process: a fake pool that "runs" each job by a formula, Optuna's
in-memory storage, no Hydra. Budgets, derived params, failures, stops and Ctrl-C, in
milliseconds (the same paths run end to end through Hydra in test_sweeper.py)."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from sweeper._errors import SweepError
from sweeper._job import Fixed, Job, Worker
from sweeper._jobs import INTERRUPTED
from sweeper._keys import SweepKeys
from sweeper._loop import Loop, LoopSettings
from sweeper._outcome import Outcome
from sweeper._search_space import Product, SearchSpace
from sweeper._study import WorkerTagged
from sweeper.schedulers import SweepContext
from sweeper.schedulers.asha import AsyncHalving
from sweeper.schedulers.full import FullRuns
from sweeper.schedulers.rungs import Rungs
from sweeper.settings import FaultSettings, SweeperSettings


class FakePool:
    """Runs each started job at ``wait`` as ``run(job) -> Outcome``; records every job."""

    def __init__(self, run, stop_after: int | None = None, raise_in_wait=None) -> None:
        self.run, self.pending, self.started, self.cancelled = run, [], [], 0
        self.stop_after, self.raise_in_wait = stop_after, raise_in_wait

    def start(self, jobs: list[Job]) -> None:
        self.pending += jobs
        self.started += jobs

    @property
    def in_flight(self) -> int:
        return len(self.pending)

    def wait(self, on_poll):
        if self.raise_in_wait is not None and len(self.started) > self.raise_in_wait[0]:
            raise self.raise_in_wait[1]
        batch, self.pending = self.pending, []
        return [(job, self.run(job)) for job in batch]

    def cancel(self) -> None:
        self.cancelled += 1


def completed(value: float, epochs: int = 1) -> Outcome:
    return Outcome(TrialState.COMPLETE, [value], {"status": "completed", "epochs": epochs})


def context(pruner=None, sweep_dir: Path = Path(".")) -> SweepContext:
    """A task with ``epochs=5`` as its budget key, searching x."""
    task = OmegaConf.create({"epochs": 5, "x": 0.5, "sweep_keys": {"budget": "epochs"}})
    return SweepContext(
        keys=SweepKeys.of(task),
        task_cfg=task,
        distributions=dict(X.distributions),
        objectives={"value": "minimize"},
        pruner=pruner or optuna.pruners.SuccessiveHalvingPruner(min_resource=1),
        sweep_dir=sweep_dir,
    )


def loop(
    pool, space, scheduler=None, sampler=None, storage=None, study_name=None, **settings
) -> Loop:
    storage = storage or optuna.storages.InMemoryStorage()
    inner = sampler or optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(
        storage=storage,
        sampler=WorkerTagged(inner, storage, Worker.this()),
        study_name=study_name,
        load_if_exists=True,
    )
    faults = {k: settings.pop(k) for k in ("max_failure_rate", "retry_failed") if k in settings}
    s = SweeperSettings(
        **{"n_trials": 6, "n_jobs": 2, **settings, "faults": FaultSettings(**faults)}
    )
    fixed = tuple(Fixed.parse(["epochs=5"]))
    return Loop(
        study,
        storage,
        space,
        scheduler or FullRuns(context()),
        pool,
        LoopSettings.of(s),
        fixed,
        {"value": "minimize"},
        "sqlite://",
    )


X = SearchSpace({"x": FloatDistribution(0, 1)})


def test_every_trial_is_told_and_each_job_carries_its_trial_and_subdir():
    pool = FakePool(lambda job: completed((job.params["x"] - 0.3) ** 2))
    lp = loop(pool, X)
    lp.run()
    trials = lp.study.get_trials()
    assert len(trials) == 6 and all(t.state == TrialState.COMPLETE for t in trials)
    assert [j.subdir for j in pool.started] == [str(n) for n in range(6)]
    job = pool.started[0]
    assert job.to_overrides()[:2] == ["epochs=5", f"x={job.params['x']!r}"]
    assert (
        "+trial.number=0" in job.to_overrides() and job.to_overrides()[-1] == "hydra.sweep.subdir=0"
    )
    assert (
        trials[0].user_attrs["overrides"] == job.replay() and trials[0].user_attrs["worker_pid"] > 0
    )


def test_a_product_param_reaches_the_job_as_wd_and_the_study_keeps_the_product():
    space = SearchSpace(
        {
            "max_lr": FloatDistribution(0.1, 1, log=True),
            "lr_x_wd": FloatDistribution(1e-4, 1e-2, log=True),
        },
        Product("lr_x_wd", "max_lr", "wd"),
    )
    pool = FakePool(lambda job: completed(job.params["wd"]))
    lp = loop(pool, space)
    lp.run()
    for job, t in zip(pool.started, lp.study.get_trials(), strict=True):
        assert set(job.params) == {"max_lr", "wd"} and set(t.params) == {"max_lr", "lr_x_wd"}
        assert job.params["wd"] == pytest.approx(t.params["lr_x_wd"] / t.params["max_lr"])
        assert t.user_attrs["derived_params"]["wd"] == pytest.approx(job.params["wd"])


def test_rungs_promote_the_survivors_and_only_they_train_the_full_run():
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    pool = FakePool(
        lambda job: completed(
            (job.params["x"] - 0.3) ** 2, epochs=int(job.settings.get("epochs", 5))
        )
    )
    lp = loop(pool, X, Rungs(context(pruner), [1]), n_trials=9, n_jobs=1)
    lp.study.pruner = pruner
    lp.run()
    trials = lp.study.get_trials()
    full = [j for j in pool.started if j.step == 1]
    assert full and all(j.subdir == str(j.number) and "epochs" not in j.settings for j in full)
    assert all(
        j.settings == {"epochs": 1} and j.subdir == f"{j.number}-epochs1"
        for j in pool.started
        if j.step == 0
    )
    assert {t.number for t in trials if t.state == TrialState.COMPLETE} == {j.number for j in full}
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned and all("after the epochs=1 run" in t.user_attrs["reason"] for t in pruned)
    assert all(not j.trial.report for j in pool.started), "rung runs only heartbeat"
    assert all(t.user_attrs["epochs_total"] == 6 for t in trials if t.state == TrialState.COMPLETE)


def test_failures_above_the_rate_stop_the_sweep_and_leave_nothing_running():
    pool = FakePool(
        lambda job: Outcome(TrialState.FAIL, None, {"status": "failed", "reason": "boom"})
    )
    lp = loop(pool, X, n_trials=10, max_failure_rate=0.5)
    with pytest.raises(SweepError, match="max_failure_rate=0.5"):
        lp.run()
    trials = lp.study.get_trials()
    assert pool.cancelled == 1 and not [t for t in trials if t.state == TrialState.RUNNING]
    assert len(trials) == 2, "judged once n_jobs trials finished"


def test_ctrl_c_fails_the_open_trials_as_interrupted_and_cancels_the_pool():
    pool = FakePool(lambda job: completed(1.0), raise_in_wait=(2, KeyboardInterrupt()))
    lp = loop(pool, X)
    with pytest.raises(KeyboardInterrupt):
        lp.run()
    trials = lp.study.get_trials()
    assert pool.cancelled == 1 and not [t for t in trials if t.state == TrialState.RUNNING]
    assert [t.user_attrs["status"] for t in trials] == [
        "completed",
        "completed",
        "interrupted",
        "interrupted",
    ]


def test_a_ctrl_c_a_job_turned_into_its_own_failure_still_stops_the_sweep():
    def run(job):
        INTERRUPTED.set()  # the SIGINT was seen, but the job's library caught the KeyboardInterrupt
        return Outcome(TrialState.FAIL, None, {"status": "failed", "reason": "OperationalError"})

    lp = loop(FakePool(run), X, n_jobs=1)
    try:
        with pytest.raises(KeyboardInterrupt):
            lp.run()
    finally:
        INTERRUPTED.clear()
    (trial,) = lp.study.get_trials()
    assert trial.state == TrialState.FAIL and trial.user_attrs["status"] == "interrupted"


def test_a_grid_ends_the_study_when_every_cell_ran_once():
    """The scheduler's budget caps n_trials at a grid sampler's size (the build asks it)."""
    space = SearchSpace({"x": CategoricalDistribution([0.1, 0.2, 0.3])})
    pool = FakePool(lambda job: completed(job.params["x"]))
    full = FullRuns(context())
    assert (full.budget(100, space.grid_size()), full.budget(2, 3), full.budget(100, None)) == (
        3,
        2,
        100,
    )
    grid = optuna.samplers.GridSampler(space.grid(), seed=0)
    lp = loop(pool, space, full, sampler=grid, n_trials=full.budget(100, space.grid_size()))
    lp.run()
    assert sorted(t.params["x"] for t in lp.study.get_trials()) == [0.1, 0.2, 0.3]


def _unowned_trial(study, age_s: float) -> int:
    """A RUNNING trial as a SIGKILL inside ask() leaves it: no params, no worker, no heartbeat."""
    import datetime

    template = optuna.trial.FrozenTrial(
        number=-1, state=TrialState.RUNNING, value=None, values=None,
        datetime_start=datetime.datetime.now() - datetime.timedelta(seconds=age_s),
        datetime_complete=None, params={}, distributions={}, user_attrs={}, system_attrs={},
        intermediate_values={}, trial_id=-1,
    )  # fmt: skip
    study_id = study._storage.get_study_id_from_name(study.study_name)
    tid = study._storage.create_new_trial(study_id, template_trial=template)
    return study._storage.get_trial_number_from_id(tid)


def test_a_trial_whose_sweep_died_inside_ask_is_failed_once_no_live_sweep_can_own_it(monkeypatch):
    from sweeper import _study

    lp = loop(FakePool(lambda job: completed(1.0)), X, n_trials=3, n_jobs=1)
    young = _unowned_trial(lp.study, age_s=1)  # perhaps a live worker's, inside its ask()
    old = _unowned_trial(lp.study, age_s=_study.UNOWNED_AFTER_S + 5)
    assert _study.fail_zombies(lp.study, lp.storage, 900, False) == [old]
    monkeypatch.setattr(_study, "UNOWNED_AFTER_S", 3.0)  # the sweep's end waits this long for it
    lp.run()
    trials = lp.study.get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert "died inside ask()" in trials[young].user_attrs["reason"]


def _rung_value(job: Job) -> Outcome:
    return completed((job.params["x"] - 0.3) ** 2, epochs=int(job.settings.get("epochs", 5)))


XS = [0.9, 0.31, 0.7, 0.05, 0.29, 0.5, 0.33, 0.95, 0.1]  # one trial each, in this order


def _enqueued(lp: Loop) -> Loop:
    for x in XS:
        lp.study.enqueue_trial({"x": x})
    return lp


def test_runs_that_finish_together_are_not_counted_as_paused(caplog):
    """Two runs returned by one wait: while the first is told the second is open and out of
    the pool, but nothing paused it; the progress line says no "paused" (it once said 1)."""
    pool = FakePool(lambda job: completed((job.params["x"] - 0.3) ** 2))
    with caplog.at_level(logging.INFO):
        loop(pool, X, n_jobs=2).run()
    assert re.search(r"trial \d+ \(\d+/6\) completed", caplog.text), caplog.text
    assert "paused" not in caplog.text


def test_asha_pauses_each_trial_and_promotes_a_paused_one_when_a_slot_frees(caplog):
    pool = FakePool(_rung_value)
    lp = _enqueued(loop(pool, X, AsyncHalving(context(), [1], 3), n_trials=9, n_jobs=1))
    with caplog.at_level(logging.INFO):
        lp.run()
    said = caplog.text  # what the console shows: each pause and each promotion, in words
    assert "paused (promoted when it ranks in the top 1/3 of its rung)" in said
    # the progress line's k/N counts told trials and says how many wait for a promotion
    assert re.search(r"trial \d+ \(\d+/9, \d+ paused\) completed", said), said
    assert "promoted from epochs=1 to epochs=" in said and "of the" in said
    trials = {t.number: t for t in lp.study.get_trials()}
    full = [j.number for j in pool.started if j.step == 1]
    assert full and {n for n, t in trials.items() if t.state == TrialState.COMPLETE} == set(full)
    at = {(j.number, j.step): k for k, j in enumerate(pool.started)}  # start order
    assert any(at[(n, 0)] < at[(m, 0)] < at[(n, 1)] for n in full for m in trials if m != n), (
        "a trial paused while newer trials started, then was promoted (asynchronous)"
    )
    assert len(full) == len(XS) // 3 or len(full) == len(XS) // 3 + 1
    pruned = [t for t in trials.values() if t.state == TrialState.PRUNED]
    assert len(pruned) == len(XS) - len(full) and all(
        "AsyncHalving" in t.user_attrs["reason"] for t in pruned
    )
    assert not [t for t in trials.values() if t.state == TrialState.RUNNING]


class Killed(BaseException):
    """Stands for a SIGKILL: nothing of the sweep's own cleanup runs."""


def _rung_sweep(storage, kill_after: int | None = None) -> tuple[Loop, FakePool]:
    from sweeper._study import fail_zombies

    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    pool = FakePool(_rung_value)
    lp = loop(pool, X, Rungs(context(pruner), [1]), storage=storage, study_name="rungs",
              n_trials=9, n_jobs=1, retry_failed=True)  # fmt: skip
    lp.study.pruner = pruner
    if not lp.study.trials:
        _enqueued(lp)
    if kill_after is not None:
        real = pool.wait

        def wait(on_poll):
            if len(pool.started) > kill_after:
                raise Killed
            return real(on_poll)

        pool.wait = wait
        lp._stop = lambda e: None  # a SIGKILL cleans nothing up
    fail_zombies(lp.study, lp.storage, 900, True, adopt=lp.adopt)
    lp.run()
    return lp, pool


@pytest.mark.parametrize("kill_after", [1, 4, 7])
def test_a_killed_rung_sweep_resumes_to_the_same_promotions_and_no_duplicate_full_run(kill_after):
    straight, straight_pool = _rung_sweep(optuna.storages.InMemoryStorage())
    storage = optuna.storages.InMemoryStorage()
    with pytest.raises(Killed):
        _rung_sweep(storage, kill_after)
    resumed, resumed_pool = _rung_sweep(storage)

    def decided(study):
        return sorted((t.params["x"], t.state.name) for t in study.get_trials())

    assert decided(resumed.study) == decided(straight.study)  # same trials, same promotions
    full = lambda pool: [j.number for j in pool.started if j.step == 1]  # noqa: E731
    assert len(set(full(resumed_pool))) == len(full(resumed_pool)), "no full run twice"
    for t in resumed.study.get_trials(states=(TrialState.COMPLETE,)):
        assert t.user_attrs["epochs_total"] == 6, "the killed run's epochs are not counted twice"


class PruneAbove(optuna.pruners.BasePruner):
    """Stops a trial whose last report is above ``limit`` (a pruner whose choices are known)."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def prune(self, study, trial) -> bool:
        return trial.intermediate_values[trial.last_step] > self.limit


@pytest.mark.parametrize("scheduler", [Rungs, AsyncHalving])
def test_a_sweep_whose_every_promoted_trial_failed_its_full_run_still_ends_with_a_pick(scheduler):
    """The promoted trials (x near 0.3) all diverge in their full runs: the best trial stopped
    at a rung (x=0.12) trains its full run as a new trial, and the sweep has a full-length pick."""

    def run(job):
        if job.step == 1 and abs(job.params["x"] - 0.3) < 0.1:
            return Outcome(TrialState.PRUNED, None, {"status": "diverged", "reason": "constructed"})
        return _rung_value(job)

    xs = [0.9, 0.31, 0.7, 0.05, 0.29, 0.5, 0.33, 0.95, 0.12]
    pruner = PruneAbove(0.02)
    made = scheduler(context(pruner), [1]) if scheduler is Rungs else scheduler(context(), [1], 3)
    lp = loop(FakePool(run), X, made, n_trials=len(xs), n_jobs=1, max_failure_rate=1.0)
    lp.study.pruner = pruner
    for x in xs:
        lp.study.enqueue_trial({"x": x})
    lp.run()
    (pick,) = lp.study.get_trials(states=(TrialState.COMPLETE,))
    assert pick.params["x"] == 0.12 and "pick_of" in pick.user_attrs
    assert len(lp.study.trials) == len(xs) + 1


def test_a_finished_run_of_a_dead_sweep_is_read_not_failed_on_resume(tmp_path):
    """The sweep died after its job wrote summary.json, before the trial was told: the resume
    reads the result from the job dir (without faults.retry_failed) and runs nothing again."""
    import json

    from sweeper._study import fail_zombies

    storage = optuna.storages.InMemoryStorage()
    first = loop(FakePool(_rung_value), X, storage=storage, study_name="s", n_trials=2)
    first.sweep_dir = tmp_path
    (job,) = first._chosen(1)
    first._start([job])  # the run is in flight; then the sweep dies (nothing more of it runs)
    (tmp_path / job.subdir).mkdir()
    (tmp_path / job.subdir / "summary.json").write_text(
        json.dumps({"status": "completed", "value": 0.25, "epochs": 5})
    )
    first.open.clear()  # as a dead process: it owns nothing now
    resumed = loop(FakePool(_rung_value), X, storage=storage, study_name="s", n_trials=2)
    resumed.sweep_dir = tmp_path
    assert fail_zombies(resumed.study, storage, 900, False, adopt=resumed.adopt) == []
    resumed.run()
    trial = resumed.study.trials[job.number]
    assert trial.state == TrialState.COMPLETE and trial.value == 0.25
    assert job.number not in [j.number for j in resumed.pool.started], "not run again"


def test_progress_counts_every_workers_trials_and_its_eta_goes_at_the_studys_pace(monkeypatch):
    """A second worker joins a study with 10 trials told: its k/N is the study's, and its ETA
    comes from the 4 trials every worker finished since it started (not from its own 1)."""
    from sweeper import _progress

    clock = [100.0]
    monkeypatch.setattr(_progress.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(_progress.sys.stderr, "isatty", lambda: False)
    p = _progress.Progress(["maximize"], total=30, told_at_start=10, start=clock[0])
    clock[0] += 40.0  # 40 s later, the study has 14 trials told, one of them this worker's
    line = p.finished(3, "completed", [0.9], told=14)
    assert "(14/30)" in line and "40s elapsed, ~2m40s left" in line  # 16 left at 10 s each


@pytest.mark.parametrize(
    ("steps_per_epoch", "budgets"),
    [(10, [4, 5]), (100, [1, 3, 5]), (None, [1, 3, 5])],  # 40 steps: 4 epochs of 10 steps
)
def test_rungs_are_lengthened_to_min_rung_steps_with_the_range_tests_steps(
    steps_per_epoch, budgets
):
    """[1, 3] epochs with min_rung_steps=40: 4 epochs at 10 steps per epoch (both rungs become
    one, below the full run of 5); unchanged at 100 steps per epoch or without the steps."""
    from sweeper._seeding import Bounds

    rungs = Rungs(context(), [1, 3], min_rung_steps=40)
    bounds = Bounds(0.05, 0.5, 0.2, "file", "rt.json", "test", steps_per_epoch=steps_per_epoch)
    rungs.restore(optuna.create_study(), bounds)
    assert rungs.budgets == budgets


def test_the_eta_follows_the_recent_pace_and_says_the_stage(monkeypatch):
    """Five trials at 10 s each, then five at 2 s (a quicker stage): the ETA goes at 2 s a trial
    (the last finishes), not the 6 s average; with a stage it says the time is the stage's."""
    from sweeper import _progress

    clock = [0.0]
    monkeypatch.setattr(_progress.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(_progress.sys.stderr, "isatty", lambda: False)
    p = _progress.Progress(["maximize"], total=30, start=0.0, stage="grid stage")
    for k in range(10):
        clock[0] += 10.0 if k < 5 else 2.0
        line = p.finished(k, "completed", [0.5])
    assert "(10/30, grid stage)" in line and "~40s left in this stage" in line  # 20 x 2 s


def test_replicates_repeat_the_models_recommendation_with_new_seeds():
    """``scheduler.replicates=2``: the last two trials of the budget are requests the loop adds,
    each the model's recommendation at that moment, trained with seed 1 then 2 (in its job's
    settings and its record); the trials before are the sampler's."""
    from optuna.distributions import FloatDistribution

    from sweeper.record import TrialKey

    task = OmegaConf.create(
        {"max_lr": 0.1, "wd": 1e-4, "seed": 0, "sweep_keys": {"lr": "max_lr", "wd": "wd"}}
    )
    space = SearchSpace(
        {
            "max_lr": FloatDistribution(0.01, 1, log=True),
            "wd": FloatDistribution(1e-5, 1e-1, log=True),
        }
    )
    ctx = SweepContext(
        keys=SweepKeys.of(task),
        task_cfg=task,
        distributions=dict(space.distributions),
        objectives={"val_loss": "minimize"},
        pruner=optuna.pruners.NopPruner(),
        sweep_dir=Path("."),
    )

    def smooth(job):  # best near max_lr 0.1, wd 1e-3
        a, b = math.log10(job.params["max_lr"]) + 1, math.log10(job.params["wd"]) + 3
        return completed(0.3 + 0.05 * a * a + 0.02 * b * b)

    pool = FakePool(smooth)
    lp = loop(pool, space, FullRuns(ctx, replicates=2), n_trials=10, n_jobs=1)
    lp.run()
    trials = lp.study.get_trials()
    seeds = [t.user_attrs.get(TrialKey.REPLICATE_SEED) for t in trials]
    assert len(trials) == 10 and seeds[:8] == [None] * 8 and seeds[8:] == [1, 2], seeds
    assert [j.settings.get("seed") for j in pool.started[8:]] == [1, 2]
    for t in trials[8:]:  # the recommendation: inside the range, near the constructed best
        assert abs(math.log10(t.params["max_lr"]) + 1) < 0.6, t.params
