"""The balance analysis on constructed data: a known ridge, a flat surface, an optimum on the edge."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reports import analyze_balance

LRS = [10**e for e in (-2, -1.5, -1, -0.5, 0)]
WDS = [10**e for e in np.arange(-6, -0.49, 0.5)]


def runs(best_log_wd, noise: float = 0.003, seeds: int = 2, seed: int = 0):
    """Accuracy peaks at log10 wd = best_log_wd(log10 lr), with Gaussian noise, ``seeds`` runs a cell."""
    rng = np.random.default_rng(seed)
    lr, wd, value = [], [], []
    for a in LRS:
        for b in WDS:
            for _ in range(seeds):
                lr.append(a)
                wd.append(b)
                value.append(
                    0.95
                    - 0.01 * (math.log10(b) - best_log_wd(math.log10(a))) ** 2
                    + rng.normal(0, noise)
                )
    return lr, wd, value


@pytest.mark.parametrize("slope", [-1.0, -0.5, 1.0])
def test_known_ridge_slope_is_recovered_and_its_interval_covers_it(slope):
    lr, wd, value = runs(lambda x: -3.5 + slope * (x + 1))  # inside the wd range at every lr level
    r = analyze_balance(lr, wd, value, metric="best_val_acc", maximize=True)
    assert r.slope == pytest.approx(slope, abs=0.15)
    assert r.slope_ci[0] <= slope <= r.slope_ci[1]
    word = "smaller" if slope < 0 else "larger"
    assert (
        r.verdict.startswith(f"larger lr wants {word} wd: slope")
        and f"over 5 lr levels, {len(lr)} runs" in r.verdict
    )
    assert all(lv.best_wd_ci[0] <= lv.best_wd <= lv.best_wd_ci[1] for lv in r.levels)
    assert not r.warnings


def test_flat_surface_gives_no_evidence():
    lr, wd, _ = runs(lambda x: 0.0)
    value = 0.9 + np.random.default_rng(1).normal(
        0, 0.003, len(lr)
    )  # no dependence on lr or wd, only noise
    r = analyze_balance(lr, wd, value, metric="best_val_acc", maximize=True)
    assert r.verdict.startswith("not enough evidence:") and "includes 0" in r.verdict
    assert r.slope_ci[0] < 0 < r.slope_ci[1]


def test_optimum_beyond_the_searched_range_is_flagged():
    lr, wd, value = runs(lambda x: 1.0 - (x + 2))  # best wd 10 at the lowest lr: far above 0.3
    r = analyze_balance(lr, wd, value, metric="best_val_acc", maximize=True)
    assert r.levels[0].edge == "high"
    assert any("extend wd above" in w for w in r.warnings)


def test_diverged_runs_count_as_the_worst_and_minimize_flips_the_sign():
    lr, wd, value = runs(lambda x: -3.5 - (x + 1))
    loss = [1 - v for v in value]
    loss[0] = None  # a diverged run
    r = analyze_balance(lr, wd, loss, metric="best_val_loss", maximize=False)
    assert r.slope == pytest.approx(-1.0, abs=0.15) and r.runs == len(lr)


def test_too_few_levels_or_runs():
    r = analyze_balance(
        [0.1, 0.1, 0.3, 0.3],
        [1e-4, 1e-3, 1e-4, 1e-3],
        [0.9, 0.8, 0.85, 0.9],
        metric="m",
        maximize=True,
    )
    assert r.slope is None and r.verdict.startswith("not enough evidence: 2 lr level(s)")
    with pytest.raises(ValueError, match="at least 2 finished runs"):
        analyze_balance([0.1], [1e-4], [0.9], metric="m", maximize=True)
