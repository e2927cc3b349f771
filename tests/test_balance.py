"""The balance analysis on constructed surfaces: a known ridge, a cliff whose position follows
lr x wd, a flat surface, dead lr levels, an optimum beyond the searched range."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import analyze_balance

LRS = [10**e for e in (-2, -1.5, -1, -0.5, 0)]
WDS = [10**e for e in np.arange(-6, -0.49, 0.5)]


def runs(surface, noise: float = 0.003, seeds: int = 2, seed: int = 0, lrs=LRS):
    """``surface(log10 lr, log10 wd)`` plus Gaussian noise, ``seeds`` runs a cell; a surface
    value of None is a run that diverged."""
    rng = np.random.default_rng(seed)
    lr, wd, value = [], [], []
    for a in lrs:
        for b in WDS:
            for _ in range(seeds):
                v = surface(math.log10(a), math.log10(b))
                lr.append(a)
                wd.append(b)
                value.append(None if v is None else v + rng.normal(0, noise))
    return lr, wd, value


def peak(best_log_wd):
    """Accuracy peaks at log10 wd = best_log_wd(log10 lr)."""
    return lambda x, y: 0.95 - 0.01 * (y - best_log_wd(x)) ** 2


def cliff(edge_log_wd):
    """Flat at 0.95 up to log10 wd = edge_log_wd(log10 lr), then falling fast (over-regularized)."""
    return lambda x, y: 0.95 - 0.3 * max(0.0, y - edge_log_wd(x))


def points_inside(r) -> bool:
    levels = [lv for lv in r.levels if lv.ridge_wd is not None]
    return all(lv.ridge_wd_ci[0] <= lv.ridge_wd <= lv.ridge_wd_ci[1] for lv in levels) and (
        r.slope is None or r.slope_ci[0] <= r.slope <= r.slope_ci[1]
    )


@pytest.mark.parametrize("slope", [-1.0, -0.5, 1.0])
def test_known_ridge_slope_is_covered_and_the_point_is_inside(slope):
    lr, wd, value = runs(peak(lambda x: -3.5 + slope * (x + 1)), seed=1)
    r = analyze_balance(lr, wd, value, metric="best_val_acc", maximize=True)
    assert r.slope == pytest.approx(slope, abs=0.2)
    assert r.slope_ci[0] <= slope <= r.slope_ci[1] and points_inside(r)
    word = "smaller" if slope < 0 else "larger"
    assert r.verdict.startswith(f"larger lr wants {word} wd: slope")
    assert f"over 5 lr levels, {len(lr)} runs" in r.verdict
    assert r.prediction == {-1.0: "lr_x_wd", -0.5: "between", 1.0: "neither"}[slope]
    assert not r.warnings and not r.dead_levels


# a cliff below a plateau of 3+ decades, still (slope 0) or moving with lr (-1): wd does not
# matter up to the cliff, the headline's first half; the cliff's slope and what it admits follow
@pytest.mark.parametrize("slope,prediction", [(-1.0, "lr_x_wd"), (0.0, "flat")])
def test_a_cliff_is_read_at_its_edge_not_inside_the_plateau(slope, prediction):
    lr, wd, value = runs(cliff(lambda x: -2.5 + slope * (x + 1)), seeds=3)
    r = analyze_balance(lr, wd, value, metric="best_val_acc", maximize=True, steps_per_epoch=100.0)
    assert r.prediction == prediction and points_inside(r), r.verdict
    # one headline for both: where wd does not matter, then what its limit does with lr
    assert r.verdict.startswith("wd does not matter between 1e-06 and "), r.verdict
    if prediction == "flat":
        assert "; above it, no trend shown: slope " in r.verdict
        assert abs(r.slope) <= 0.1
        assert "admits no dependence of the best wd on lr (slope 0)" in r.verdict
    else:
        assert "; above it, larger lr wants smaller wd: slope -1" in r.verdict, r.verdict
    for lv in r.levels:  # the ridge sits at the cliff, the plateau reaches the lowest wd
        edge = -2.5 + slope * (math.log10(lv.lr) + 1)
        assert abs(math.log10(lv.ridge_wd) - edge) < 0.5  # within one wd step of the grid
        assert lv.plateau[0] == pytest.approx(1e-6)
        assert lv.timescale_epochs == pytest.approx(1 / (lv.lr * lv.ridge_wd) / 100)
    assert r.flat_range is not None and "wd does not matter between 1e-06 and" in r.verdict
    # the lower edge of a plateau is not an edge of the optimum: no warning about it
    assert not any("lower end" in w for w in r.warnings)


def test_the_slope_interval_covers_the_truth_over_noise_draws():
    covered = 0
    for seed in range(12):
        lr, wd, value = runs(peak(lambda x: -3.5 - (x + 1)), seed=seed)
        r = analyze_balance(lr, wd, value, metric="m", maximize=True, bootstrap=100)
        covered += r.slope_ci[0] <= -1 <= r.slope_ci[1]
        assert points_inside(r)
    assert covered >= 9  # nominal 90%: 12 draws, at least 9 (binomial P(<9) ~ 2%)


def test_flat_surface_is_a_plateau_and_never_a_trend():
    lr, wd, value = runs(lambda x, y: 0.9, seeds=3)
    r = analyze_balance(lr, wd, value, metric="best_val_acc", maximize=True)
    assert r.prediction == "flat" and r.slope is None
    assert r.verdict.startswith("wd does not matter between")
    low, high = r.flat_range
    assert low <= 1e-5 and high >= 0.1  # nearly the whole searched range
    assert all(lv.flat for lv in r.levels)


def test_dead_levels_are_left_out_and_named():
    def surface(x, y):
        if x >= -0.5:  # the two highest levels diverge or stay at chance
            return None if x == 0 else 0.1
        return peak(lambda x: -3.0 - (x + 1))(x, y)

    lrs = [10**e for e in (-2.5, -2, -1.5, -1, -0.5, 0)]
    lr, wd, value = runs(surface, lrs=lrs)
    r = analyze_balance(lr, wd, value, metric="best_val_acc", maximize=True, chance=0.1)
    assert r.dead_levels == pytest.approx([10**-0.5, 1.0])
    reasons = {round(lv.lr, 3): lv.dead for lv in r.levels if lv.dead}
    assert reasons == {0.316: "its best is near chance", 1.0: "every run diverged or collapsed"}
    assert "lr levels left out: 0.316 (its best is near chance), 1 (every run diverged" in r.verdict
    assert r.slope_levels == pytest.approx(lrs[:4])
    assert r.slope_ci[0] <= -1 <= r.slope_ci[1] and points_inside(r)
    assert not any("max_lr" in w and "extend" in w for w in r.warnings)


def test_optimum_beyond_the_searched_range_is_flagged():
    lr, wd, value = runs(peak(lambda x: 1.0 - (x + 2)))  # best wd 10 at the lowest lr
    r = analyze_balance(lr, wd, value, metric="best_val_acc", maximize=True)
    assert r.levels[0].edge == "high"
    assert any(
        "upper end of the searched range" in w and "extend wd above" in w for w in r.warnings
    )


def test_edges_are_those_of_the_searched_range_not_of_the_finished_runs():
    lr, wd, value = runs(peak(lambda x: -5.5))  # best near 3e-6 at every level
    keep = [i for i, w in enumerate(wd) if w >= 1e-6]
    r = analyze_balance(
        [lr[i] for i in keep],
        [wd[i] for i in keep],
        [value[i] for i in keep],
        metric="m",
        maximize=True,
        wd_range=(1e-8, 0.3),  # searched lower than any run went: no edge is reached
    )
    assert r.wd_range == pytest.approx((1e-8, 0.3))
    assert not any("lower end" in w for w in r.warnings)


def test_best_lr_level_on_the_searched_edge_is_flagged():
    lr, wd, value = runs(lambda x, y: 0.9 + 0.03 * x - 0.01 * (y + 3) ** 2)
    r = analyze_balance(lr, wd, value, metric="m", maximize=True)
    assert any("highest searched (1)" in w and "extend max_lr above" in w for w in r.warnings)


def test_diverged_runs_count_as_the_worst_and_minimize_flips_the_sign():
    lr, wd, value = runs(peak(lambda x: -3.5 - (x + 1)), seed=1)
    loss = [1 - v for v in value]
    loss[0] = None  # a diverged run
    r = analyze_balance(lr, wd, loss, metric="best_val_loss", maximize=False)
    assert r.slope == pytest.approx(-1.0, abs=0.2) and r.runs == len(lr)


def test_too_few_levels_or_runs():
    r = analyze_balance(
        [0.1, 0.1, 0.3, 0.3],
        [1e-4, 1e-3, 1e-4, 1e-3],
        [0.9, 0.8, 0.85, 0.9],
        metric="m",
        maximize=True,
    )
    assert r.slope is None and r.verdict.startswith("not enough evidence:")
    with pytest.raises(ValueError, match="at least 2 finished runs"):
        analyze_balance([0.1], [1e-4], [0.9], metric="m", maximize=True)


def test_a_level_of_one_run_says_nothing():
    """Four runs at four lr values (a short TPE study): one binned level, no trend, no flat range."""
    r = analyze_balance(
        [0.05, 0.2, 0.3, 0.8],
        [2e-5, 1e-4, 1e-3, 1e-2],
        [0.9, 0.95, 0.96, 0.97],
        metric="m",
        maximize=True,
    )
    assert r.slope is None and r.prediction is None and r.flat_range is None
    assert r.verdict.startswith("not enough evidence") and len(r.levels) == 1


def test_a_search_of_distinct_lr_values_is_binned_not_read_as_a_grid():
    """12 TPE-like runs, every max_lr its own: 3 bins of 4 runs, not 12 dead one-run levels."""
    rng = np.random.default_rng(0)
    r = analyze_balance(
        list(10 ** rng.uniform(-3, 0, 12)),
        list(10 ** rng.uniform(-6, -1, 12)),
        list(0.9 + 0.01 * rng.normal(size=12)),
        metric="m",
        maximize=True,
    )
    assert len(r.levels) == 3 and not r.dead_levels
    assert [lv.runs for lv in r.levels] == [4, 4, 4]
    assert r.binned and "binned into 3 quantile ranges" in r.verdict
    assert r.flat_range is None, "4 runs a bin mix lr with wd: no 'wd does not matter'"
    assert not any("extend max_lr" in w for w in r.warnings)


def test_the_recommendation_sits_on_the_ridge_and_a_rerun_repeats_it():
    """A cliff at lr x wd = 1e-4 (a BatchNorm-like band) with lr levels equally good: the
    recommended wd at the recommended lr lies below that lr's cliff, its band ends at the cliff,
    and five reruns (other noise) recommend settings inside each other's bands (lr, lr x wd)."""
    recs = []
    for seed in range(5):
        lr, wd, value = runs(cliff(lambda x: -4 - x), noise=0.003, seeds=2, seed=seed)
        r = analyze_balance(lr, wd, value, metric="best_val_acc", maximize=True)
        recs.append(r.recommendation)
    for rec in recs:
        cliff_wd = 1e-4 / rec["max_lr"]
        assert rec["wd"] < cliff_wd and rec["wd_band"][1] == pytest.approx(cliff_wd, rel=2.0)
        assert rec["sentence"].startswith(f"use max_lr={rec['max_lr']:.3g}, wd={rec['wd']:.2g}")
        assert rec["lr_levels"] >= 3 and rec["runs"] == len(lr)
    for a in recs:  # every rerun's pick is as good by every other rerun's band
        for b in recs:
            assert b["lr_band"][0] <= a["max_lr"] <= b["lr_band"][1]
            p = a["max_lr"] * a["wd"]  # within a mesh step (1.33x in wd)
            assert b["product_band"][0] / 1.5 <= p <= b["product_band"][1] * 1.5


def test_a_flat_wd_is_recommended_as_not_mattering():
    lr, wd, value = runs(lambda x, y: 0.95, noise=0.003, seeds=2)
    rec = analyze_balance(lr, wd, value, metric="best_val_acc", maximize=True).recommendation
    assert rec["wd_flat"] and "wd does not matter here" in rec["sentence"]


def test_a_band_cut_off_by_the_searched_range_is_said_to_be_a_bound():
    """The cliff lies above every searched wd at the high lrs' plateau top: the band reaches
    the searched range's top and is stated as a bound, not as a range."""
    lr, wd, value = runs(peak(lambda x: 0.0), noise=0.003, seeds=2)  # best wd 1, above the range
    rec = analyze_balance(lr, wd, value, metric="best_val_acc", maximize=True).recommendation
    assert rec["wd_edge"] == "high" and not rec["wd_flat"]
    assert f"wd {rec['wd_band'][0]:.2g} or more at this lr" in rec["sentence"]


def test_the_sweep_ends_with_the_recommendation_from_its_runs():
    """sweeper._recommend on a study of constructed runs: one line, the same as the analysis'."""
    import optuna
    from optuna.distributions import FloatDistribution

    from sweeper._keys import SweepKeys
    from sweeper._recommend import recommendation

    lr, wd, value = runs(cliff(lambda x: -4 - x), noise=0.003, seeds=1)
    study = optuna.create_study(direction="maximize")
    dists = {
        "max_lr": FloatDistribution(1e-3, 10, log=True),
        "wd": FloatDistribution(1e-7, 1, log=True),
    }
    for a, b, v in zip(lr, wd, value, strict=True):
        study.add_trial(
            optuna.trial.create_trial(params={"max_lr": a, "wd": b}, distributions=dists, value=v)
        )
    rec, line = recommendation(study, SweepKeys(lr="max_lr", wd="wd"), {"best_val_acc": "maximize"})
    assert rec is not None and line == f"recommendation: {rec['sentence']}"
    few = optuna.create_study(direction="maximize")
    for a, b, v in list(zip(lr, wd, value, strict=True))[:5]:
        few.add_trial(
            optuna.trial.create_trial(params={"max_lr": a, "wd": b}, distributions=dists, value=v)
        )
    rec, line = recommendation(few, SweepKeys(lr="max_lr", wd="wd"), {"best_val_acc": "maximize"})
    assert rec is not None and "evidence is thin: 5 full-length runs" in line


def test_a_flat_level_the_slope_uses_is_named_next_to_the_verdict():
    """At the lowest lr the cliff sits near the top of the wd range (a plateau over 80% of it):
    its ridge enters the slope, and the verdict says that level is weak evidence."""
    lr, wd, value = runs(cliff(lambda x: -1.2 if x < -1.9 else -4 - x), noise=0.003, seeds=2)
    r = analyze_balance(lr, wd, value, metric="best_val_acc", maximize=True)
    flat_in_slope = [lv for lv in r.levels if lv.flat and lv.lr in r.slope_levels]
    assert flat_in_slope, [(lv.lr, lv.flat, lv.plateau) for lv in r.levels]
    assert f"caveat: the slope uses lr level(s) {flat_in_slope[0].lr:.3g}" in r.verdict


def test_another_studys_pick_is_judged_by_the_models_predicted_difference():
    """tasks.report compare_with=: a pick on the plateau is one answer (predicted as good); a
    pick past the cliff is two answers, the recommendation predicted better beyond its
    tolerance; both carry the predicted difference and its sd."""
    import optuna
    from optuna.distributions import FloatDistribution

    from reports._answer import study_answer

    d = {
        "max_lr": FloatDistribution(1e-3, 10, log=True),
        "wd": FloatDistribution(1e-7, 1, log=True),
    }
    lr, wd, value = runs(cliff(lambda x: -4 - x), noise=0.003, seeds=2)
    study = optuna.create_study(direction="maximize", study_name="balance")
    for a, b, v in zip(lr, wd, value, strict=True):
        study.add_trial(
            optuna.trial.create_trial(params={"max_lr": a, "wd": b}, distributions=d, value=v)
        )
    for pick_wd, word in ((1e-5, "one answer"), (0.3, "two answers")):
        other = optuna.create_study(direction="maximize", study_name="search")
        other.add_trial(
            optuna.trial.create_trial(
                params={"max_lr": 0.1, "wd": pick_wd}, distributions=d, value=0.99
            )
        )
        rec, c = study_answer(study, "max_lr", "wd", "best_val_acc", True, other)
        assert rec is not None and c is not None
        assert c["sentence"].startswith(f"{word}: "), c["sentence"]
        assert c["difference_sd"] > 0 and (c["difference"] > 0.1) == (word == "two answers")
        assert c["what"] == "best single run"  # one run: no model of its own
    searched = optuna.create_study(direction="maximize", study_name="search")
    for a, b in ((0.1, 1e-5), (0.03, 1e-5), (0.3, 3e-6), (0.1, 0.3)):
        value = 0.95 if b < 1e-2 else 0.6
        searched.add_trial(
            optuna.trial.create_trial(params={"max_lr": a, "wd": b}, distributions=d, value=value)
        )
    _, c = study_answer(study, "max_lr", "wd", "best_val_acc", True, searched)
    assert c is not None and c["what"] == "recommendation", c
    assert c["sentence"].startswith("one answer"), c["sentence"]


def test_wd_that_does_not_matter_where_levels_train_is_flat_whatever_an_underfit_level_says():
    """No BatchNorm, as on the suite's LeNet-5 grids: wd does not matter up to 1e-2 at every
    level that trains; the top lr, near divergence, is 15 points lower and falls from 1e-4
    on. Its narrow plateau is about underfitting: the finding is the wide flat range."""

    def surface(x, y):
        if x > -0.1:  # lr 1: trains worse, hurt by wd early
            return 0.80 - 0.3 * max(0.0, y + 4.0)
        return 0.95 - 0.3 * max(0.0, y + 2.0)

    lr, wd, value = runs(surface, noise=0.003, seeds=2)
    r = analyze_balance(lr, wd, value, metric="best_val_acc", maximize=True)
    assert r.prediction == "flat", r.verdict
    assert r.flat_range[0] <= 1e-5 and r.flat_range[1] >= 3e-3  # not cut at 1e-4 by lr 1
    assert r.verdict.startswith("wd does not matter between")
    (under,) = [lv for lv in r.levels if lv.undertrained]
    assert under.lr == pytest.approx(1.0)


def test_a_level_that_did_not_train_as_well_enters_no_slope_and_is_named():
    """A cliff at lr x wd = 1e-4 (slope -1) at four levels; the lowest lr underfits (its best is
    20 points lower) and its cliff sits elsewhere: it is left out of the slope, which stays -1."""

    def surface(x, y):
        if x < -1.9:  # lr 0.01: underfit, a cliff unrelated to the balance
            return 0.75 - 0.3 * max(0.0, y + 1.0)
        return 0.95 - 0.3 * max(0.0, y - (-4 - x))

    lr, wd, value = runs(surface, noise=0.003, seeds=2)
    r = analyze_balance(lr, wd, value, metric="best_val_acc", maximize=True)
    (under,) = [lv for lv in r.levels if lv.undertrained]
    assert under.lr == pytest.approx(0.01) and under.lr not in r.slope_levels
    assert r.slope == pytest.approx(-1.0, abs=0.2)
    assert (
        "left out of the slope: lr level(s) 0.01, not trained as well as the best level"
        in r.verdict
    )


def four_levels(best: dict[float, float], noise):
    """The issue's grid shape: max_lr 0.03, 0.1, 0.3, 1 x 8 wd from 1e-5 to 5e-2 x 2 seeds,
    accuracy peaking at log10 wd = ``best[lr]``, plus ``noise(seed)``; analysed."""
    lr, wd, value = [], [], []
    for a in best:
        for b in np.geomspace(1e-5, 5e-2, 8):
            for seed in range(2):
                lr.append(a)
                wd.append(float(b))
                value.append(0.95 - 0.02 * (math.log10(b) - best[a]) ** 2 + noise(seed))
    return analyze_balance(lr, wd, value, metric="best_val_acc", maximize=True)


def test_ridges_beyond_the_wd_range_are_bounds_that_still_show_the_direction():
    """The issue's 4-level grid (max_lr 0.03..1, wd 1e-5..5e-2, 2 seeds): the two lower levels'
    as-good wd runs past the upper end, then the best wd falls 50x over the other two. Two
    ridges inside the range fit no slope, but the runs do say which way wd moves."""
    rng = np.random.default_rng(0)
    best = {0.03: 0.0, 0.1: -0.5, 0.3: -2.3, 1.0: -4.0}  # log10 of the best wd
    r = four_levels(best, lambda seed: rng.normal(0, 0.002))
    assert r.slope is None and r.bound_trend == "falling"
    assert r.verdict.startswith("larger lr wants smaller wd (a bound: ")
    assert "0.03, 0.1" in r.verdict and "extend wd above 0.05 to measure how much" in r.verdict
    assert "not enough evidence" not in r.verdict


def test_no_bound_trend_when_the_edge_levels_do_not_line_up():
    """An edge level between two in-range ridges that fall: no single direction, no claim."""
    r = four_levels({0.03: -3.0, 0.1: 0.0, 0.3: -3.5, 1.0: -3.2}, lambda seed: 0.001 * seed)
    assert r.bound_trend is None and "a bound" not in r.verdict


def test_a_quantized_metric_whose_runs_mostly_tie_is_flat_not_a_one_point_plateau():
    """Accuracy on 144 examples, wd without effect: most runs of a level score the same value,
    a few one example more. The MAD of the residuals is 0; one example is still within the
    noise (the metric's resolution is its floor), so wd does not matter, at every level."""
    rng = np.random.default_rng(3)
    lr, wd, value = [], [], []
    for a in LRS:
        for b in WDS:
            lr.append(a)
            wd.append(b)
            value.append((142 + (rng.random() < 0.1)) / 144)
    r = analyze_balance(lr, wd, value, metric="best_val_acc", maximize=True)
    live = [lv for lv in r.levels if not lv.dead]
    assert r.prediction == "flat" and len(live) >= 3 and all(lv.flat for lv in live), r.verdict
    assert r.noise == pytest.approx(1 / 144)


def test_a_trend_no_one_seed_replicate_repeats_is_not_a_headline():
    """The mean of several seeds a cell can show a slope that no study of one seed would: the
    headline then says so instead of claiming the trend; a repeated trend says how often."""
    import dataclasses

    from analysis.balance import _verdict

    lr, wd, value = runs(cliff(lambda x: -2.5 - (x + 1)), seeds=3)
    r = analyze_balance(lr, wd, value, metric="best_val_acc", maximize=True)
    assert r.trend_repeated is not None and r.trend_repeated[1] == 3, r.trend_repeated
    assert r.trend_repeated[0] >= 1 and "larger lr wants smaller wd" in r.verdict
    assert f"shown by {r.trend_repeated[0]} of its 3 one-seed replicates" in r.verdict
    unrepeated = dataclasses.replace(r, trend_repeated=(0, 3))
    words = _verdict(unrepeated, len(r.levels), 3)
    assert "larger lr wants smaller wd:" not in words
    assert "no trend that one seed shows" in words and "none of its 3 one-seed" in words
