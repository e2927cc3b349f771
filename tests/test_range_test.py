"""tasks.range_test: divergence stops, no state left behind, the JSON, the overlay, the CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from training.checks import ConfigError
from training.range_test import range_test
from training.range_test.finder import knobs, load_range_test, run_range_test
from training.range_test.overlay import recommend, write_overlay
from training.runner import prepare, run

from .conftest import CONF_DIR, ROOT

JSON_KEYS = {
    "lrs",
    "losses",
    "smoothed_losses",
    "suggestions",
    "bounds",
    "diverged_at",
    "num_iter",
    "config",
    "seconds",
    "iterations",
    "epochs",
}


def cfg_for(*overrides: str, config: str = "range_test"):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config, overrides=list(overrides))


def curve_args(cfg, **kw):
    return {**knobs(cfg), "batch_size": cfg.batch_size, "val_every": 0, **kw}


@pytest.mark.parametrize("data,model", [("mnist1d", "cnn1d"), ("digits", "lenet5")])
def test_range_test_writes_schema_and_plot(tmp_path, data, model):
    result = range_test(cfg_for(f"data={data}", f"model={model}", "batch_size=64"), tmp_path)
    on_disk = load_range_test(tmp_path)
    assert JSON_KEYS <= on_disk.keys()
    assert (
        len(on_disk["lrs"])
        == len(on_disk["losses"])
        == len(on_disk["smoothed_losses"])
        == result["iterations"]
        <= 100
    )
    assert set(on_disk["suggestions"]) == {"valley", "steep", "minimum", "slide"}
    b = on_disk["bounds"]
    assert 0 < b["min_lr"] < b["max_lr"] <= 10 and b["rule"]
    assert on_disk["lrs"][0] == pytest.approx(1e-7) and all(
        a < b for a, b in zip(on_disk["lrs"], on_disk["lrs"][1:], strict=False)
    )
    assert (
        on_disk["config"]["data"]["name"] == data
        and on_disk["seconds"] > 0
        and on_disk["epochs"] > 0
    )
    html = (tmp_path / "range_test.html").read_text()
    assert "plotly" in html.lower() and "smoothed loss" in html


def test_gradual_divergence_stops_at_the_stop_factor(tmp_path):
    cfg = cfg_for("end_lr=1000", "num_iter=300", "model.batch_norm=false")
    result = range_test(cfg, tmp_path)
    assert result["diverged_at"] is not None and result["iterations"] < 300
    sm = result["smoothed_losses"]
    assert (
        "smoothed loss" in result["stop_reason"] and sm[-1] > 4 * min(sm)
    ) or "non-finite" in result["stop_reason"]


class NaNAfter(torch.nn.Module):
    """Wraps a model; its output turns NaN from the ``n``-th training call on."""

    def __init__(self, inner: torch.nn.Module, n: int) -> None:
        super().__init__()
        self.inner, self.n, self.calls = inner, n, 0

    def forward(self, x):
        out = self.inner(x)
        self.calls += 1
        return out * float("nan") if self.calls > self.n else out


def test_sudden_nan_stops_at_that_iteration():
    cfg = cfg_for("num_iter=50")
    data, stepper = prepare(cfg)
    model = NaNAfter(stepper.model, n=17)
    stepper = type(stepper)(
        model,
        stepper.optimizer,
        stepper.weight_decay,
        0.0,
        stepper.augment,
        stepper.generator,
        stepper.precision,
    )
    curve = run_range_test(stepper, data, **curve_args(cfg, smooth=0.98))
    assert (
        len(curve.lrs) == 18
        and math.isnan(curve.losses[-1])
        and math.isnan(curve.smoothed_losses[-1])
    )
    assert curve.diverged_at == curve.lrs[-1] and "non-finite" in curve.stop_reason


def test_val_every_records_validation_points(tmp_path):
    result = range_test(cfg_for("num_iter=40", "val_every=10"), tmp_path)
    assert [v["iteration"] for v in result["val"]] == [10, 20, 30, 40]
    assert all(0 <= v["val_acc"] <= 1 for v in result["val"])


def test_range_test_leaves_no_state_behind(tmp_path):
    """A run after a range test is identical to the same run without one."""
    train = cfg_for("epochs=2", config="train")
    run(train, tmp_path / "before")
    range_test(cfg_for("num_iter=30"), tmp_path / "rt")
    run(train, tmp_path / "after")
    read = lambda d: [
        {k: v for k, v in json.loads(line).items() if k != "epoch_s"}
        for line in (d / "metrics.jsonl").read_text().splitlines()
    ]  # noqa: E731
    assert read(tmp_path / "before") == read(tmp_path / "after")


RT_BAD = [
    ("start_lr=20", "start_lr must be < end_lr"),
    ("start_lr=0", "start_lr must be"),
    ("end_lr=-1", "end_lr must be"),
    ("num_iter=5", "num_iter must be"),
    ("mode=cubic", "mode must be one of ['exp', 'linear']"),
    ("stop_factor=1", "stop_factor must be"),
    ("smooth=1.5", "smooth must be"),
    ("wd=-1", "wd must be"),
]


@pytest.mark.parametrize("override,needle", RT_BAD)
def test_bad_range_test_input_is_one_line_before_anything_runs(tmp_path, override, needle):
    with pytest.raises(ConfigError) as info:
        range_test(cfg_for(override, f"data_dir={tmp_path / 'never'}"), tmp_path / "out")
    assert str(info.value).startswith(needle) and "\n" not in str(info.value)
    assert not (tmp_path / "never").exists() and not (tmp_path / "out").exists()


def test_missing_or_corrupt_range_test_json_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "range_test.json")):
        load_range_test(tmp_path)
    (tmp_path / "range_test.json").write_text("{not json")
    with pytest.raises(ValueError, match=rf"{tmp_path / 'range_test.json'} is not valid JSON"):
        load_range_test(tmp_path)
    (tmp_path / "range_test.json").write_text('{"lrs": []}')
    with pytest.raises(ValueError, match=r"lacks \['losses'"):
        load_range_test(tmp_path / "range_test.json")


def test_recommend_prefers_lowest_loss_then_larger_lr():
    t = lambda wd, loss, hi: {  # noqa: E731
        "wd": wd,
        "min_smoothed_loss": loss,
        "bounds": {"min_lr": None if hi is None else hi / 10, "max_lr": hi},
    }
    assert recommend([t(1e-5, 1.0, 0.5), t(1e-4, 0.5, 0.3), t(1e-3, 0.8, 1.0)]) | {"rule": ""} == {
        "suggested_max_lr": pytest.approx(0.3 / 10**0.5),  # as a single test suggests it
        "bounds": {"min_lr": 0.03, "max_lr": 0.3},
        "wd": 1e-4,
        "rule": "",
    }
    # within 2% of the best loss: the larger max_lr wins (regularization balance)
    assert recommend([t(1e-5, 0.500, 0.2), t(1e-4, 0.505, 0.6)])["wd"] == 1e-4
    assert recommend([t(1e-5, math.inf, None)])["wd"] is None


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tasks.range_test", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_cli_wd_multirun_writes_overlay_and_recommendation(tmp_path):
    sweep = tmp_path / "sweep"
    p = cli("-m", "wd=1e-5,1e-4,1e-3", "num_iter=40", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    assert out.count("range test: suggested max_lr") == 3 and ", suggested max_lr=" in out
    overlay = json.loads((sweep / "range_test_overlay.json").read_text())
    assert sorted(t["wd"] for t in overlay["tests"]) == [1e-5, 1e-4, 1e-3]
    rec = overlay["recommended"]
    assert rec["wd"] in (1e-5, 1e-4, 1e-3) and rec["rule"]
    picked = next(t for t in overlay["tests"] if t["wd"] == rec["wd"])
    # the same word, rule and numbers as the picked wd's own test
    assert rec["bounds"] == {k: picked["bounds"][k] for k in ("min_lr", "max_lr")}
    assert rec["suggested_max_lr"] == pytest.approx(
        (picked["bounds"]["min_lr"] * picked["bounds"]["max_lr"]) ** 0.5
    )
    assert "plotly" in (sweep / "range_test_overlay.html").read_text().lower()
    # the overlay can be rebuilt from the directory alone
    (sweep / "range_test_overlay.json").unlink()
    assert write_overlay(sweep)["recommended"] == rec


@pytest.mark.slow
def test_cli_bad_input_and_overlay_of_an_empty_dir(tmp_path):
    p = cli("start_lr=10", "end_lr=1", cwd=tmp_path)
    assert (
        p.returncode == 2
        and p.stderr.strip() == "error: start_lr must be < end_lr, got start_lr=10 and end_lr=1."
    )
    p = cli(f"overlay={tmp_path}", cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.strip().startswith(
        f"error: overlay: no */range_test.json under {tmp_path}"
    )


def test_find_lr_in_a_users_loop_equals_the_apps_test_and_restores_the_model(tmp_path):
    """The library function on the app's own model, optimizer and batch order gives the same
    curve and bounds as tasks.range_test's test; its range_test.json is one the sweeper reads."""
    import torch
    import torch.nn.functional as F
    from hydra import compose, initialize_config_dir

    from sweeper._seeding import from_file
    from training.loop import batches
    from training.range_test import find_lr, range_test
    from training.runner import prepare

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "range_test",
            overrides=[
                "data=digits",
                "model=mlp",
                "wd=0",
                "threads=1",
                "device=cpu",
                "num_iter=60",
            ],
        )
    app = range_test(cfg, tmp_path / "app")
    data, stepper = prepare(cfg)  # the same seed: the same initial weights and batch order
    model, optimizer = stepper.model, stepper.optimizer
    before = {k: v.clone() for k, v in model.state_dict().items()}

    mine = find_lr(
        model,
        optimizer,
        F.cross_entropy,
        batches(data, cfg.batch_size, stepper.generator),
        num_iter=60,
        out_dir=tmp_path / "mine",
    )
    assert mine["lrs"] == pytest.approx(app["lrs"])
    assert mine["losses"] == pytest.approx(app["losses"], rel=1e-5)
    assert mine["bounds"] == app["bounds"] and mine["suggestions"] == app["suggestions"]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # restored
    assert from_file(str(tmp_path / "mine")).high == pytest.approx(app["bounds"]["max_lr"])
