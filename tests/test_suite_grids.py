"""The task suite's stored reference grids (bench/suite/*.csv): complete, as the suite issue
asks, and every grid's best cell inside what ``sweep=lr_wd`` searches."""

from __future__ import annotations

import math
import sys

import pytest
import yaml

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import suite  # noqa: E402


@pytest.mark.parametrize("name", list(suite.TASKS))
def test_grid_is_dense_and_documented(name):
    header, rows = suite.read_grid(suite.OUT / f"{name}.csv")
    assert {"command", "commit", "overrides", "range_test_max_lr", "held_out"} <= header.keys()
    lrs, wds = {r["max_lr"] for r in rows}, {r["wd"] for r in rows}
    assert len(lrs) >= 9 and len(wds) >= 10 and len(rows) == len(lrs) * len(wds) * 3
    bound = float(header["range_test_max_lr"])
    assert min(lrs) < bound / 10 and max(lrs) > bound  # well below and above the bounds
    assert min(wds) <= 1e-6 and max(wds) >= 0.3


@pytest.mark.parametrize("name", list(suite.TASKS))
def test_the_default_search_space_contains_the_grids_best_cell(name):
    preset = yaml.safe_load((ROOT / "conf" / "sweep" / "lr_wd.yaml").read_text())["hydra"][
        "sweeper"
    ]
    margin = preset["space"]["bounds_margin"]
    text = preset["params"]["wd"]  # tag(log, interval(1e-5, 1e-1))
    low_wd, high_wd = (
        float(x) for x in text[text.index("interval(") + 9 : text.index(")")].split(",")
    )
    header, rows = suite.read_grid(suite.OUT / f"{name}.csv")
    best = suite.best_cell(rows)
    low_lr = float(header["range_test_min_lr"]) / 10**margin
    high_lr = float(header["range_test_max_lr"]) * 10**margin
    assert low_lr <= best["max_lr"] <= high_lr, (best, low_lr, high_lr)
    assert low_wd <= best["wd"] <= high_wd, (best, low_wd, high_wd)
    assert math.isfinite(best["test"])


def test_the_underfit_level_of_digits_lenet5_is_left_out_of_its_slope():
    """On the stored digits + LeNet-5 grid the lowest live level (0.0236, best 0.82 against 0.96)
    underfits: the analysis names it and fits no slope through it."""
    _, rows = suite.read_grid(suite.OUT / "digits_lenet5_sgd.csv")
    r = suite.grid_verdict("digits_lenet5_sgd", rows)
    under = [lv.lr for lv in r.levels if lv.undertrained]
    assert under and min(under) < 0.03 and not set(under) & set(r.slope_levels)
    assert "not trained as well as the best level" in r.verdict
