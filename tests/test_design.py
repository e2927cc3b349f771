"""The adaptive balance design on a real Optuna study with constructed outcomes: the pilot moves
the lr levels off a dead top, the grid runs, more seeds or levels come until the verdict decides
or the run budget is spent."""

from __future__ import annotations

import math

import numpy as np
import optuna
from optuna.trial import TrialState

from sweeper._design import BalanceDesign

WDS = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]


def design(max_runs: int = 400) -> BalanceDesign:
    return BalanceDesign(
        lr="max_lr",
        wd="wd",
        seed="seed",
        top=0.5,
        offsets=[-1.5, -1.0, -0.5, 0.0, 0.5],
        wds=WDS,
        seeds=[0, 1],
        max_runs=max_runs,
        metric="best_val_acc",
        maximize=True,
    )


def drive(d: BalanceDesign, outcome) -> optuna.Study:
    """Run the design to its end: every enqueued trial is asked and told ``outcome(lr, wd, seed)``
    (None: the run diverged, told PRUNED as the sweeper does)."""
    study = optuna.create_study(direction="maximize")
    dists = {
        "max_lr": optuna.distributions.FloatDistribution(1e-6, 1e6, log=True),
        "wd": optuna.distributions.CategoricalDistribution(WDS),
        "seed": optuna.distributions.IntDistribution(0, 10_000),
    }
    while d.ready(study, idle=True):
        while study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            t = study.ask(dists)
            v = outcome(t.params["max_lr"], t.params["wd"], t.params["seed"])
            study.tell(t, v) if v is not None else study.tell(t, state=TrialState.PRUNED)
    return study


def ridge_surface(dead_above: float):
    """Accuracy flat to a cliff at lr x wd = 1e-4 (slope -1), noise by seed; dead above an lr."""

    def outcome(lr, wd, seed):
        if lr > dead_above:
            return None
        rng = np.random.default_rng(hash((round(lr, 6), wd, seed)) % 2**32)
        cliff = math.log10(wd) - math.log10(1e-4 / lr)
        return 0.95 - 0.3 * max(0.0, cliff) + rng.normal(0, 0.003)

    return outcome


def test_a_dead_top_moves_the_levels_down_and_the_grid_decides():
    d = design()
    study = drive(d, ridge_surface(dead_above=0.2))  # the bound (0.5) and above diverge
    state = study.user_attrs["design"]
    levels = sorted({t.params["max_lr"] for t in study.trials if t.params["seed"] == 1})
    assert max(levels) <= 0.2 and len(levels) >= 5  # the grid ran only where runs train
    assert state["stop"].startswith("decided: lr_x_wd"), state
    assert state["slope_ci"][0] <= -1 <= state["slope_ci"][1]


def test_a_best_top_level_adds_a_level_above():
    def rising(lr, wd, seed):  # better and better with lr, flat in wd
        return 0.5 + 0.1 * math.log10(lr) / 3 + np.random.default_rng(seed).normal(0, 0.001)

    study = drive(design(), rising)
    levels = sorted({t.params["max_lr"] for t in study.trials})
    assert (
        0.5 * 10**0.5 < max(levels) <= 0.5 * 10**3.5 * 1.01
    )  # past the planned top, within 3 decades


def test_the_run_budget_stops_an_undecided_design():
    def noise(lr, wd, seed):
        return 0.9 + np.random.default_rng(hash((lr, wd, seed)) % 2**32).normal(0, 0.05)

    study = drive(design(max_runs=60), noise)
    state = study.user_attrs["design"]
    assert len(study.trials) <= 60
    assert "run budget" in state["stop"] or state["stop"].startswith("decided"), state
