"""The adaptive balance design, driven by the real loop on a real Optuna study with constructed
outcomes: the pilot moves the lr levels off a dead top, the grid runs, more seeds or levels come
until the verdict decides or the run budget is spent; a kill anywhere (between storing a stage
and enqueuing its cells, or mid-pilot, twice) resumes to the same runs an uninterrupted design
makes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
import pytest
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from sweeper._keys import SweepKeys
from sweeper._loop import Loop
from sweeper._search_space import SearchSpace
from sweeper._seeding import Bounds
from sweeper.schedulers import SweepContext
from sweeper.schedulers.balance import BalanceDesign

from .test_loop import FakePool, completed, loop

WDS = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
BOUNDS = Bounds(0.05, 0.5, 0.2, "file", "rt.json", "test")


class Killed(BaseException):
    """Stands for a SIGKILL: nothing of the sweep's own cleanup runs."""


def design(max_runs: int = 400) -> BalanceDesign:
    task = OmegaConf.create(
        {
            "max_lr": 0.1,
            "wd": 0.0,
            "seed": 0,
            "sweep_keys": {"lr": "max_lr", "wd": "wd", "seed": "seed"},
        }
    )
    ctx = SweepContext(
        keys=SweepKeys.of(task),
        task_cfg=task,
        distributions={"wd": CategoricalDistribution(WDS), "seed": CategoricalDistribution([0, 1])},
        objectives={"best_val_acc": "maximize"},
        pruner=optuna.pruners.NopPruner(),
        sweep_dir=Path("."),
        lr_levels=(-1.5, -1.0, -0.5, 0.0, 0.5),
        range_test=True,
    )
    return BalanceDesign(ctx, max_runs=max_runs)


def run_design(outcome, max_runs=400, storage=None, kill=None) -> Loop:
    """The design to its end (or to ``kill``): each run is told ``outcome(lr, wd, seed)`` (None:
    diverged, PRUNED as the sweeper records it)."""

    def run(job):
        v = outcome(job.params["max_lr"], job.params["wd"], job.params["seed"])
        if v is None:
            return optuna_pruned()
        return completed(v)

    d = design(max_runs)
    space = SearchSpace(d.searched({"wd": CategoricalDistribution(WDS)}, BOUNDS))
    lp = loop(FakePool(run), space, d, storage=storage, study_name="balance", n_jobs=4)
    lp.study.set_user_attr("bounds", BOUNDS.as_dict())
    d.restore(lp, BOUNDS)
    if kill is not None:
        kill(lp)
    from sweeper._study import fail_zombies

    fail_zombies(lp.study, lp.storage, 900, False, adopt=lp.adopt)
    lp.run()
    return lp


def optuna_pruned():
    from sweeper._outcome import Outcome

    return Outcome(TrialState.PRUNED, None, {"status": "diverged", "reason": "constructed"})


def ridge_surface(dead_above: float):
    """Accuracy flat to a cliff at lr x wd = 1e-4 (slope -1), noise by seed; dead above an lr."""

    def outcome(lr, wd, seed):
        if lr > dead_above:
            return None
        rng = np.random.default_rng(hash((round(lr, 6), wd, seed)) % 2**32)
        cliff = math.log10(wd) - math.log10(1e-4 / lr)
        return 0.95 - 0.3 * max(0.0, cliff) + rng.normal(0, 0.003)

    return outcome


def cells(study: optuna.Study) -> list[tuple]:
    done = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    return sorted((t.params["max_lr"], t.params["wd"], t.params["seed"]) for t in done)


def test_a_dead_top_moves_the_levels_down_and_the_grid_decides():
    study = run_design(ridge_surface(dead_above=0.2)).study  # the bound (0.5) and above diverge
    state = study.user_attrs["design"]
    levels = sorted({t.params["max_lr"] for t in study.trials if t.params["seed"] == 1})
    assert max(levels) <= 0.2 and len(levels) >= 5  # the grid ran only where runs train
    assert state["stop"].startswith("decided: lr_x_wd"), state
    assert state["slope_ci"][0] <= -1 <= state["slope_ci"][1]


def test_a_best_top_level_adds_a_level_above():
    def rising(lr, wd, seed):  # better and better with lr, flat in wd
        return 0.5 + 0.1 * math.log10(lr) / 3 + np.random.default_rng(seed).normal(0, 0.001)

    study = run_design(rising).study
    levels = sorted({t.params["max_lr"] for t in study.trials})
    assert 0.5 * 10**0.5 < max(levels) <= 0.5 * 10**3.5 * 1.01  # past the top, within 3 decades


def test_the_run_budget_stops_an_undecided_design():
    def noise(lr, wd, seed):
        return 0.9 + np.random.default_rng(hash((lr, wd, seed)) % 2**32).normal(0, 0.05)

    study = run_design(noise, max_runs=60).study
    state = study.user_attrs["design"]
    assert len(study.trials) <= 60
    assert "max_runs=60" in state["stop"] or state["stop"].startswith("decided"), state


def test_a_design_where_no_level_trains_stops_with_its_reason():
    study = run_design(lambda lr, wd, seed: None).study
    assert "no lr level trained" in study.user_attrs["design"]["stop"]
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]


def _kill_at_enqueue(n: int):
    """A kill right after the design stored its next stage and enqueued ``n`` of its cells."""

    def arm(lp: Loop) -> None:
        real, count = lp.study.enqueue_trial, [0]

        def enqueue(*a, **k):
            if count[0] == n:
                raise Killed
            count[0] += 1
            return real(*a, **k)

        lp.study.enqueue_trial = enqueue  # type: ignore[method-assign]

    return arm


def _kill_after_runs(n: int):
    """A kill while runs are in flight, after ``n`` runs finished (their trials stay RUNNING)."""

    def arm(lp: Loop) -> None:
        pool, real = lp.pool, lp.pool.wait

        def wait(on_poll):
            if len(pool.started) > n:
                raise Killed
            return real(on_poll)

        pool.wait = wait
        lp._stop = lambda e: None  # type: ignore[method-assign]  # a SIGKILL cleans nothing up

    return arm


@pytest.mark.parametrize(
    "kills",
    [
        [_kill_at_enqueue(0)],  # the next stage stored, none of its cells enqueued
        [_kill_at_enqueue(3)],  # mid-way through the enqueues
        [_kill_after_runs(2), _kill_after_runs(1)],  # twice during the pilot
        [_kill_after_runs(9)],  # in the grid
    ],
)
def test_a_killed_design_resumes_to_the_runs_an_uninterrupted_one_makes(kills):
    surface = ridge_surface(dead_above=0.2)
    straight = run_design(surface)
    storage = optuna.storages.InMemoryStorage()
    for kill in kills:
        with pytest.raises(Killed):
            run_design(surface, storage=storage, kill=kill)
    resumed = run_design(surface, storage=storage)
    assert cells(resumed.study) == cells(straight.study)
    assert resumed.study.user_attrs["design"]["stop"] == straight.study.user_attrs["design"]["stop"]
    assert not resumed.study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))


def test_a_small_budget_gets_a_thinned_grid_and_a_verdict_not_a_stop_after_the_pilot():
    """max_runs=20 (the grid of 5 levels x 5 wd x 2 seeds needs 50): one seed and every other
    wd fit, the grid runs, and the design ends with what the analysis can say of 20 runs."""
    study = run_design(ridge_surface(dead_above=10.0), max_runs=20).study
    state = study.user_attrs["design"]
    grid = [t for t in study.trials if t.user_attrs.get("design_stage") == "grid"]
    assert grid and len(study.trials) <= 20, len(study.trials)
    assert state["seeds"] == [0] and len(state["wds"]) == 3
    assert {t.params["wd"] for t in study.trials} == set(state["wds"])  # the pilot ran the lowest


def test_a_design_state_keeps_its_stop_reason_apart_from_its_words():
    """The stop is a StopReason (the code's flag) beside the sentence people read; the stored
    JSON round-trips; a state stored before the reason was a field reads back by its words."""
    import json

    from sweeper.record import DesignState, StopReason

    start = DesignState("grid", [-1.0, 0.0], [0])
    assert not start.undecided and start.stop_reason is None
    spent = start.stopped(StopReason.BUDGET, "the next stage needs 40 runs", spent=True)
    stored = json.loads(json.dumps(spent.as_dict()))
    assert stored["stop_reason"] == "budget" and stored["stop"].startswith("run budget spent")
    assert DesignState.of(stored) == spent and spent.undecided
    decided = start.stopped(StopReason.DECIDED, "decided: flat (30 runs)")
    assert not decided.undecided
    old = {"stage": "extend", "offsets": [0.0], "seeds": [0], "stop": "decided: flat (9 runs)"}
    assert DesignState.of(old).stop_reason == StopReason.DECIDED
    old["stop"] = "run budget spent before the verdict decided: nothing left to add (9 runs)"
    assert DesignState.of(old).undecided


@pytest.mark.parametrize(
    ("max_runs", "words"),
    [
        (400, "pays for the pilot and the grid of 5 lr levels x 5 wd x 2 seeds (50 runs)"),
        (30, "a grid of one seed at 5 lr levels x 5 wd (25 runs, the pilot's among them)"),
        (20, "a grid of one seed at 5 lr levels x 3 wd (15 runs"),
        (14, "too few runs for 3 wd values at each"),
    ],
)
def test_the_design_says_before_it_starts_what_its_budget_can_show(max_runs, words):
    said = design(max_runs).budget_words()
    assert words in said, said
    if max_runs in (20, 30):
        assert "then up to 5 runs with another seed at the best cell" in said
    if max_runs == 20:
        assert "wd finer than every other value (3 of 5)" in said


def test_a_small_budget_spends_its_last_runs_on_another_seed_at_the_best_cell_and_the_wd_limit():
    """max_runs=30 on a surface flat in wd but for a 10-point drop at the largest wd above one
    lr: the thinned grid (5 levels x 5 wd, one seed) leaves 5 runs and the next stage (levels
    between) does not fit, so they repeat cells the grid ran with another seed, the drop's
    cells among them, and the design stops saying so."""

    def drop_at_the_top(lr, wd, seed):
        rng = np.random.default_rng(hash((round(lr, 6), wd, seed)) % 2**32)
        return 0.95 - (0.1 if wd >= 0.1 and lr > 0.05 else 0.0) + rng.normal(0, 0.01)

    study = run_design(drop_at_the_top, max_runs=30).study
    state = study.user_attrs["design"]
    limit = [t for t in study.trials if t.user_attrs.get("design_stage") == "limit"]
    assert len(study.trials) == 30 and len(limit) == 5, len(study.trials)
    grid = {(t.params["max_lr"], t.params["wd"]) for t in study.trials if t.params["seed"] == 0}
    assert all((t.params["max_lr"], t.params["wd"]) in grid for t in limit)  # replicates
    assert {t.params["seed"] for t in limit} == {1}
    assert sum(t.params["wd"] == 0.1 and t.params["max_lr"] > 0.05 for t in limit) >= 2
    assert "repeated the best cell and the wd limit" in state["stop"], state
