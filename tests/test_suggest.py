"""Suggestion rules: fastai's answers on recorded curves, hand-worked values, edge cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from training.range_test.suggest import analyze, minimum, slide, steep, trim, valley

from .conftest import ROOT

FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "fastai_suggestions.json").read_text())


@pytest.mark.parametrize("curve", FIXTURE["curves"], ids=[c["name"] for c in FIXTURE["curves"]])
def test_rules_give_fastais_lr_on_the_same_recorded_curve(curve):
    losses = [math.nan if v is None else v for v in curve["losses"]]
    ours, _, _ = analyze(curve["lrs"], losses, curve["num_iter"])
    for rule, expected in curve["fastai"].items():
        assert ours[rule] == pytest.approx(expected, rel=1e-6), rule  # fastai computes in float32


LRS = np.geomspace(1e-4, 1.0, 10)


def test_valley_on_a_strictly_falling_curve():
    # every point extends the run: run length 10 ends at 9, start = 9 - 10 = -1,
    # third = 10/3 -> pick = -1 + int(3.33) + int(1.67) = 3
    assert valley(LRS, np.arange(10.0, 0.0, -1)) == LRS[3]


def test_valley_picks_inside_the_longest_fall():
    losses = np.array([5.0, 5.0, 4.0, 3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    # longest decreasing subsequence ends at 5 with length 5 (5,4,3,2,1): start 0, third 5/3 -> 0 + 1 + 0 = 1
    assert valley(LRS, losses) == LRS[1]


def test_minimum_is_a_tenth_of_the_lr_at_the_lowest_loss():
    losses = np.array([3.0, 2.0, 1.5, 0.5, 0.9, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert minimum(LRS, losses) == pytest.approx(LRS[3] / 10)


def test_steep_is_the_largest_drop_per_log_lr():
    losses = np.array([3.0, 2.9, 2.8, 2.7, 2.6, 1.0, 0.9, 0.8, 0.7, 0.6])  # drop from 4 to 5
    assert steep(LRS, losses) == LRS[4]


def test_slide_on_a_flat_gradient_stops_at_once():
    lrs = np.geomspace(1e-4, 1.0, 30)
    assert slide(lrs, np.linspace(3.0, 2.0, 30)) == lrs[-16]  # constant gradient: no step taken


def test_trim_drops_head_tail_and_everything_from_the_first_nan():
    lrs = list(range(1, 41))
    losses = [1.0] * 30 + [math.nan] + [1.0] * 9
    t_lrs, t_losses = trim(lrs, losses, num_iter=40)
    assert t_lrs.tolist() == list(range(5, 31))  # [40//10 : -5] = indices 4..34, cut at index 30
    assert len(t_losses) == 26 and np.isfinite(t_losses).all()


@pytest.mark.parametrize(
    "losses", [[math.nan] * 60, [1.0] * 6, [2.0] * 7 + [math.nan] + [1.0] * 52]
)
def test_unusable_curves_give_null_suggestions_and_a_message(losses):
    lrs = list(np.geomspace(1e-7, 10, len(losses)))
    suggestions, bounds, message = analyze(lrs, losses, num_iter=len(losses))
    assert all(v is None for v in suggestions.values())
    assert bounds["min_lr"] is None and bounds["max_lr"] is None
    assert "too short" in message


def test_flat_curve_gives_suggestions_and_ordered_bounds():
    lrs = list(np.geomspace(1e-7, 10, 100))
    suggestions, bounds, message = analyze(lrs, [2.3] * 100, num_iter=100)
    assert (
        message is None and suggestions["valley"] is not None and suggestions["slide"] is not None
    )
    assert 0 < bounds["min_lr"] < bounds["max_lr"]


def test_bounds_span_a_decade_below_the_lowest_loss():
    lrs = list(np.geomspace(1e-5, 10, 100))
    losses = [
        3.0 - 2.5 / (1 + math.exp(-(math.log10(lr) + 2) * 3)) for lr in lrs
    ]  # falls around 1e-2
    losses = [
        v if lr < 1 else v + (lr - 1) * 3 for v, lr in zip(losses, lrs, strict=True)
    ]  # rises after 1
    suggestions, bounds, _ = analyze(lrs, losses, num_iter=100)
    assert bounds["max_lr"] == pytest.approx(suggestions["minimum"] * 10)
    assert (
        bounds["min_lr"]
        == pytest.approx(bounds["max_lr"] / 10)
        == pytest.approx(suggestions["minimum"])
    )
    assert 0.3 < bounds["max_lr"] <= 1.5
