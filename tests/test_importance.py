"""Our PED-ANOVA importances against Optuna's evaluator on the same studies."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from analysis import Param, ped_anova


def study_of(seed: int, objective) -> optuna.Study:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    study.optimize(objective, n_trials=120)
    return study


def ours(study: optuna.Study) -> dict[str, float]:
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    params = {}
    for name, d in trials[0].distributions.items():
        values = [t.params[name] for t in trials]
        if isinstance(d, optuna.distributions.CategoricalDistribution):
            params[name] = Param(values, choices=d.choices)
        else:
            params[name] = Param(values, log=d.log)
    return ped_anova(params, [t.value for t in trials])


def lr_wd_seed(trial: optuna.Trial) -> float:
    """A loss ruled by lr (a valley in log lr), a little by wd, not at all by the seed."""
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    wd = trial.suggest_float("wd", 1e-6, 1e-1, log=True)
    seed = trial.suggest_categorical("seed", [0, 1, 2])
    rng = np.random.default_rng(trial.number)
    return (
        (math.log10(lr) + 1.5) ** 2
        + 0.1 * (math.log10(wd) + 3) ** 2
        + 0.0 * seed
        + 0.05 * rng.normal()
    )


def width_depth(trial: optuna.Trial) -> float:
    width = trial.suggest_int("width", 8, 256)
    depth = trial.suggest_float("depth", 0.0, 1.0)
    return -math.log(width) + 0.2 * depth


@pytest.mark.parametrize("objective", [lr_wd_seed, width_depth])
@pytest.mark.parametrize("seed", [0, 1])
def test_ranks_params_as_optunas_ped_anova(objective, seed):
    study = study_of(seed, objective)
    mine = ours(study)
    theirs = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.PedAnovaImportanceEvaluator()
    )
    assert list(mine) == list(theirs), (mine, theirs)
    assert sum(mine.values()) == pytest.approx(1.0)
    top = next(iter(theirs))
    assert mine[top] == pytest.approx(theirs[top], abs=0.15)


def test_a_param_the_loss_ignores_gets_little():
    scores = ours(study_of(3, lr_wd_seed))
    assert scores["lr"] > 0.6 and scores["seed"] < 0.1


def test_a_space_far_wider_than_the_trials_still_scores_each_param():
    """An adaptive design's lr space spans 8 decades; its trials sit on a few levels in two."""
    lrs = [0.02, 0.06, 0.2, 0.6, 2.0]
    wds = [10**e for e in range(-5, 0)]
    cells = [(lr, wd, s) for lr in lrs for wd in wds for s in (0, 1)]
    noise = np.random.default_rng(0).normal(0, 0.01, len(cells))  # the seed only draws noise
    loss = noise + [
        (math.log10(lr) + 0.7) ** 2 + 0.3 * (math.log10(wd) + 3) ** 2 for lr, wd, _ in cells
    ]
    scores = ped_anova(
        {
            "max_lr": Param([c[0] for c in cells], log=True),
            "wd": Param([c[1] for c in cells], choices=wds),
            "seed": Param([c[2] for c in cells]),
        },
        loss,
    )
    assert scores["wd"] > scores["seed"] and scores["max_lr"] > scores["seed"]
    assert scores["seed"] < 0.1, "two seeds, counted: no kernel-width artifact"
    assert len(set(scores.values())) == 3, "not the uniform fallback"
