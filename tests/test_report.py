"""tasks.report on real and constructed studies; the dashboard; a real browser."""

from __future__ import annotations

import csv
import html
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import optuna
import pytest

from reports import ReportError, write_report
from reports import _study_figures as study_figures
from reports._figures import pareto_front

from .conftest import ROOT
from .test_sweeper import load, train_sweep


@pytest.fixture(scope="module")
def real_study(tmp_path_factory) -> Path:
    """A small real sweep of tasks.train: seeded by a range test, pruned, one objective."""
    tmp = tmp_path_factory.mktemp("real")
    p = train_sweep(
        tmp,
        "sweep=lr_wd",
        "data=digits",
        "model=mlp",
        "epochs=4",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.space.range_test_overrides=['num_iter=40']",
        "hydra/sweeper/supersweep_pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=2",
        "hydra.sweeper.pruner.n_warmup_steps=1",
    )
    assert p.returncode == 0, p.stderr
    return tmp


def report_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tasks.report", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_report_of_a_real_single_objective_sweep(real_study, tmp_path):
    out = tmp_path / "rep"
    p = report_cli(
        f"sweep_dir={real_study / 'sweep'}", f"hydra.run.dir={out}", "images=false", cwd=tmp_path
    )
    assert p.returncode == 0, p.stderr
    assert f"{out / 'report.html'}" in p.stdout and "optuna-dashboard sqlite:///" in p.stdout
    summary = json.loads((out / "report.json").read_text())
    complete = summary["trials"].get("complete", 0)
    drawn = ["history", "curves", "range_test"] + (["parallel"] if complete >= 5 else [])
    for name in drawn:
        assert (out / f"{name}.html").is_file(), name
    page = (out / "report.html").read_text()
    assert "plot-range_test" in page and "python -m tasks.train" in page
    if complete < 10:  # a map of a few runs would be an extrapolation: skipped, with the reason
        assert summary["skipped"]["lr_wd"].startswith("the LR x WD map needs at least 10 complete")
    # the recommendation is read from the model of the runs, however few: thin evidence is said
    rec = summary["recommendation"]
    assert rec is not None and html.escape(rec["sentence"]) in page
    if rec["full_runs"] < 10:
        assert f"evidence is thin: {rec['full_runs']} full-length runs" in rec["sentence"]
    # one objective, every complete trial 4 epochs: no cost varies, so no Pareto front is drawn
    assert (
        "a Pareto front needs two objectives or a cost that varies" in summary["skipped"]["pareto"]
    )
    assert "plot-pareto" not in page
    if complete < 10:
        assert summary["skipped"]["importance"].startswith("needs at least 10 complete trials")
    head = page.split("</head>")[1].split("<h2")[0]  # what a reader sees above the plots
    assert "Objective: best_val_acc (maximized)" in head and "{" not in head
    study = load(real_study)
    assert summary["best"][0]["number"] == study.best_trial.number
    assert sum(summary["trials"].values()) == len(study.trials)
    with (out / "trials.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert [int(r["number"]) for r in table] == [t.number for t in study.trials]
    for r, t in zip(table, study.trials, strict=True):
        assert r["state"] == t.state.name.lower() and float(r["max_lr"]) == pytest.approx(
            t.params["max_lr"]
        )
        if t.state == optuna.trial.TrialState.COMPLETE:
            assert float(r["best_val_acc"]) == pytest.approx(t.value) and int(r["epochs"]) == 4


def test_default_is_the_latest_study_in_the_storage(real_study, tmp_path):
    out = tmp_path / "rep"
    p = report_cli(
        f"storage=sqlite:///{real_study / 'optuna.db'}",
        f"hydra.run.dir={out}",
        "images=false",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    assert json.loads((out / "report.json").read_text())["study_name"] == "s"


@pytest.mark.slow
def test_two_objective_report_draws_the_front_of_the_study(tmp_path):
    p = train_sweep(
        tmp_path,
        "sweep=lr_wd_cycle",
        "data=digits",
        "model=mlp",
        "hydra.sweeper.n_trials=5",
        "epochs=int(interval(2, 5))",
        "hydra.sweeper.space.range_test_overrides=['num_iter=40']",
    )
    assert p.returncode == 0, p.stderr
    study = load(tmp_path)
    summary = write_report(
        study, tmp_path / "rep", pareto_x=None, pareto_y=None, lr="max_lr", wd="wd", images=False
    )
    assert {b["number"] for b in summary["best"]} == {t.number for t in study.best_trials}
    html = (tmp_path / "rep" / "pareto.html").read_text()
    assert "Pareto front: best_val_acc (max) vs epochs (min)" in html


def constructed_study(best_wd_of_lr) -> optuna.Study:
    """value peaks where wd = best_wd_of_lr(lr): the balance curve is known."""
    study = optuna.create_study(direction="maximize")
    study.set_user_attr("metrics", ["best_val_acc"])
    log_uniform = optuna.distributions.FloatDistribution
    for lr in [10**e for e in (-3, -2.5, -2, -1.5, -1, -0.5)]:
        for wd in [10**e for e in (-6, -5.5, -5, -4.5, -4, -3.5, -3, -2.5)]:
            value = 1 - (math.log10(wd) - math.log10(best_wd_of_lr(lr))) ** 2 / 100
            study.add_trial(
                optuna.trial.create_trial(
                    params={"max_lr": lr, "wd": wd},
                    value=value,
                    user_attrs={"epochs": 10},
                    distributions={
                        "max_lr": log_uniform(1e-4, 1, log=True),
                        "wd": log_uniform(1e-7, 1e-2, log=True),
                    },
                )
            )
    return study


@pytest.mark.parametrize(
    "rule,sign", [(lambda lr: 10**-6.5 / lr, -1), (lambda lr: 1e-3 * lr, +1)]
)  # optimum inside the wd grid
def test_balance_trend_on_a_constructed_study(tmp_path, rule, sign):
    summary = write_report(
        constructed_study(rule),
        tmp_path,
        pareto_x=None,
        pareto_y=None,
        lr="max_lr",
        wd="wd",
        images=False,
    )
    b = summary["balance"]
    assert (
        b["slope"] == pytest.approx(sign * 1.0, abs=0.1)
        and b["slope_ci"][0] <= sign <= b["slope_ci"][1]
    )
    assert b["verdict"].startswith(f"larger lr wants {'smaller' if sign < 0 else 'larger'} wd")
    assert len(b["levels"]) == 6 and all(
        math.isclose(math.log10(lv["best_wd"]), math.log10(rule(lv["lr"])), abs_tol=0.3)
        for lv in b["levels"]
    )
    page = (tmp_path / "report.html").read_text()
    assert (
        "Regularization balance</b>: larger lr wants" in page
        and "lr x wd = const" in (tmp_path / "lr_wd.html").read_text()
    )


def test_pareto_front_rule():
    pts = [(1, 0.5), (2, 0.7), (3, 0.6), (2, 0.4), (5, 0.9)]
    assert pareto_front(pts, x_min=True, y_max=True) == [True, True, False, False, True]


def test_empty_study_and_missing_metric_are_clear_errors(tmp_path):
    empty = optuna.create_study()
    with pytest.raises(ReportError, match="has no trials yet"):
        write_report(
            empty, tmp_path, pareto_x=None, pareto_y=None, lr="max_lr", wd="wd", images=False
        )
    study = constructed_study(lambda lr: 1e-5)
    summary = write_report(
        study,
        tmp_path / "r",
        pareto_x="wall_s",
        pareto_y="best_val_acc",
        lr="max_lr",
        wd="weight_decay",
        images=False,
    )
    assert "no complete trial has both 'wall_s'" in summary["skipped"]["pareto"]
    assert "searched 'max_lr' and 'weight_decay'" in summary["skipped"]["lr_wd"]


@pytest.mark.slow
def test_cli_errors_are_one_line(tmp_path):
    optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'none.db'}")  # a database without studies
    p = report_cli(f"storage=sqlite:///{tmp_path / 'none.db'}", cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.strip().startswith("error: no studies in sqlite:///")
    p = report_cli(f"storage=sqlite:///{tmp_path / 'missing.db'}", cwd=tmp_path)
    assert p.returncode == 2 and "missing.db is not a file" in p.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "missing.db").exists(), "a report never creates a database"
    p = report_cli(f"sweep_dir={tmp_path}", cwd=tmp_path)
    assert p.returncode == 2 and "optimization_results.yaml not found" in p.stderr


@pytest.mark.slow  # starts Chrome (kaleido): seconds, not milliseconds
@pytest.mark.browser
@pytest.mark.skipif(not shutil.which("chromium"), reason="needs Chromium for kaleido")
def test_png_and_svg_next_to_each_html_when_chrome_exists(tmp_path):
    write_report(
        constructed_study(lambda lr: 1e-5),
        tmp_path,
        pareto_x=None,
        pareto_y=None,
        lr="max_lr",
        wd="wd",
        images=True,
    )
    for name in ("lr_wd", "curves", "history"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG" and b"<svg" in (
            tmp_path / f"{name}.svg"
        ).read_bytes()[:500]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dashboard_serves_the_study_on_loopback(real_study):
    port = free_port()
    exe = Path(sys.executable).with_name("optuna-dashboard")
    proc = subprocess.Popen(
        [
            str(exe),
            f"sqlite:///{real_study / 'optuna.db'}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        body = None
        for _ in range(60):
            try:
                body = json.loads(
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2).read()
                )
                break
            except OSError:
                time.sleep(0.5)
        assert body is not None, "dashboard did not answer"
        studies = {s["study_name"]: s for s in body["study_summaries"]}
        assert "s" in studies
        detail = json.loads(
            urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/studies/{studies['s']['study_id']}", timeout=5
            ).read()
        )
        assert len(detail["trials"]) == len(load(real_study).trials)
        note = detail["note"]["body"]  # the sweep's end lines, the recommendation's first
        assert note.startswith("## What study s says") and "best single run:" in note
        assert "recommendation" in note.splitlines()[2]
        assert "`epochs_total / rung_epochs`" in note
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _chromium_flags(profile: Path) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=8000",
    ]


def rendered_page(page: Path, profile: Path) -> str:
    """The page's DOM after Chromium ran its scripts; no console error on the way."""
    dom = subprocess.run(
        [
            "chromium",
            *_chromium_flags(profile),
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    console_errors = [
        line
        for line in dom.stderr.splitlines()
        if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)
    ]
    assert not console_errors, console_errors
    return dom.stdout


def screenshot(page: Path, profile: Path, name: str) -> Path:
    artifacts = Path(os.environ.get("SUPERSWEEP_ARTIFACTS", ROOT / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / name
    subprocess.run(
        [
            "chromium",
            *_chromium_flags(profile),
            "--window-size=1280,2400",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 20_000
    return shot


@pytest.mark.slow  # starts Chrome
@pytest.mark.browser
@pytest.mark.skipif(
    not shutil.which("chromium"), reason="Chromium not installed (.ci/run installs it)"
)
def test_report_renders_in_headless_chromium_without_js_errors(real_study, tmp_path):
    out = tmp_path / "rep"
    assert (
        report_cli(
            f"sweep_dir={real_study / 'sweep'}",
            f"hydra.run.dir={out}",
            "images=false",
            cwd=tmp_path,
        ).returncode
        == 0
    )
    page = rendered_page(out / "report.html", tmp_path / "profile")
    summary = json.loads((out / "report.json").read_text())
    drawn = [n for n in summary["written"] if n != "trials"]
    assert page.count('class="main-svg"') >= 2 * len(drawn), "plotly drew every figure"
    # what a reader sees: sentences and tables, the range test with its legend, no JSON
    assert "Objective: best_val_acc (maximized)" in page
    assert "max_lr bounds from the LR range test" in page
    assert "search bounds" in page and "smoothed loss" in page
    if "lr_wd" in summary["written"]:
        assert "Regularization balance" in page and "ridge: largest such wd" in page
    assert "Not drawn" in page and "a Pareto front needs two objectives" in page
    screenshot(out / "report.html", tmp_path / "profile", "report.png")


@pytest.mark.slow  # starts Chrome
@pytest.mark.browser
@pytest.mark.skipif(
    not shutil.which("chromium"), reason="Chromium not installed (.ci/run installs it)"
)
def test_a_two_objective_report_renders_its_front_importances_and_parallel_plot(tmp_path):
    """Accuracy up, epochs down: the front, the importances and the parallel coordinates of
    the first objective are drawn (12 trials, enough for each) and render without errors."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.set_user_attr("metrics", ["best_val_acc", "epochs"])
    rng = np.random.default_rng(0)
    space = {
        "max_lr": optuna.distributions.FloatDistribution(1e-3, 1, log=True),
        "wd": optuna.distributions.FloatDistribution(1e-6, 1e-1, log=True),
    }
    for _ in range(12):
        lr, wd, epochs = (
            10 ** rng.uniform(-3, 0),
            10 ** rng.uniform(-6, -1),
            int(rng.integers(5, 31)),
        )
        acc = (
            0.95
            - 0.05 * (math.log10(lr) + 1) ** 2
            - 0.01 * (math.log10(wd) + 3) ** 2
            - 0.2 / epochs
        )
        study.add_trial(
            optuna.trial.create_trial(
                params={"max_lr": lr, "wd": wd},
                distributions=space,
                values=[acc, epochs],
                user_attrs={"status": "completed", "epochs": epochs},
            )
        )
    out = tmp_path / "rep"
    summary = write_report(
        study, out, pareto_x=None, pareto_y=None, lr="max_lr", wd="wd", images=False
    )
    assert {"pareto", "importance", "parallel", "history"} <= set(summary["written"])
    page = rendered_page(out / "report.html", tmp_path / "profile")
    assert "Objectives: best_val_acc (maximized), epochs (minimized)" in page
    assert "Parallel Coordinate Plot" in page and "Hyperparameter Importances" in page
    assert "Pareto front: best_val_acc (max) vs epochs (min)" in page
    screenshot(out / "report.html", tmp_path / "profile", "report_two_objectives.png")


@pytest.mark.slow
def _on_a_small_disk(disk: Path, size_k: int, *args: str) -> subprocess.CompletedProcess:
    """``tasks.report`` writing to a tmpfs of ``size_k`` KiB mounted (in a mount namespace of
    its own, so nothing outside sees it) at ``disk``: a disk that is or gets full."""
    import shutil

    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("mounting a small disk needs root and unshare")
    disk.mkdir()
    cmd = " ".join(
        [f"mount -t tmpfs -o size={size_k}k tmpfs {disk} &&", sys.executable, "-m", "tasks.report"]
        + [f"'{a}'" for a in args]
    )
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", cmd],
        cwd=disk.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("size_k", "code", "words"),
    [
        (512, 2, "error: hydra.run.dir={out}: the disk of {disk} is full (512 KiB free)"),
        (1536, 1, "error: the report in {out}: cannot write"),  # fills while plotly.js is written
    ],
)
def test_a_report_on_a_full_disk_is_one_line(real_study, tmp_path, size_k, code, words):
    disk, storage = tmp_path / "disk", f"sqlite:///{real_study / 'optuna.db'}"
    p = _on_a_small_disk(
        disk, size_k, f"storage={storage}", "images=false", f"hydra.run.dir={disk}/rep"
    )
    if "mount: " in p.stderr:
        pytest.skip(f"no tmpfs here: {p.stderr.strip()}")
    assert p.returncode == code, p.stderr[-2000:]
    lines = p.stderr.strip().splitlines()
    assert lines[-1].startswith(words.format(out=disk / "rep", disk=disk)), p.stderr[-2000:]
    assert "Traceback" not in p.stderr and "Logging error" not in p.stderr, p.stderr[-2000:]


@pytest.mark.slow
def test_report_reads_a_hydra_grid_dir(tmp_path):
    """``tasks.report sweep_dir=<Hydra multirun dir>``: the basic sweeper's job dirs, no Optuna study."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    grid = tmp_path / "grid"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "tasks.train",
            "-m",
            "data=digits",
            "model=mlp",
            "epochs=2",
            "max_lr=0.05,0.2,0.8",
            "wd=1e-5,1e-4,1e-3,1e-2",
            "seed=0,1",
            f"hydra.sweep.dir={grid}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    out = tmp_path / "rep"
    p = report_cli(f"sweep_dir={grid}", f"hydra.run.dir={out}", "images=false", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (
        f"report of grid '{grid}'" in p.stdout
        and "regularization balance: " in p.stdout
        and "optuna-dashboard" not in p.stdout
    )
    summary = json.loads((out / "report.json").read_text())
    assert (
        sum(summary["trials"].values()) == 24
        and len(summary["balance"]["levels"]) == 3
        and summary["balance"]["runs"] == 24
    )
    assert summary["skipped"]["history"] == "needs an Optuna study (this is a Hydra grid)"
    with (out / "trials.csv").open() as fh:
        table = list(csv.DictReader(fh))
    job = json.loads((grid / table[0]["number"] / "summary.json").read_text())
    assert float(table[0]["best_val_acc"]) == pytest.approx(job["best_val_acc"]) and table[0][
        "max_lr"
    ] in ("0.05", "0.2", "0.8")
    assert (
        summary["best"][0]["replay"].startswith("python -m tasks.train ")
        and "max_lr=" in summary["best"][0]["replay"]
    )
    # the grid's own settings (data, model, epochs) are not params it searched
    assert set(table[0]) >= {"max_lr", "wd", "seed"} and not {"data", "model"} & set(table[0])

    # one bad job file (a full disk, a kill mid-write) does not sink the grid's report
    (grid / "0" / "summary.json").write_text("{not json")
    metrics = grid / "1" / "metrics.jsonl"
    metrics.write_text(metrics.read_text()[:-7])
    p = report_cli(
        f"sweep_dir={grid}", f"hydra.run.dir={tmp_path / 'rep2'}", "images=false", cwd=tmp_path
    )
    assert p.returncode == 0, p.stderr
    said = p.stdout + p.stderr
    assert (
        "0/summary.json is unreadable" in said
        and "1/metrics.jsonl: line 2 is not JSON; skipped" in said
    )
    assert sum(json.loads((tmp_path / "rep2" / "report.json").read_text())["trials"].values()) == 24


def test_lr_estimate_is_drawn_against_the_schedule_when_logged(tmp_path):
    study = constructed_study(lambda lr: 1e-5)
    summary = write_report(
        study, tmp_path / "none", pareto_x=None, pareto_y=None, lr="max_lr", wd="wd", images=False
    )
    assert summary["skipped"]["lr_estimate"].startswith("no complete trial logged lr_estimate")
    job = tmp_path / "job"
    job.mkdir()
    (job / "metrics.jsonl").write_text(
        "".join(
            json.dumps({"epoch": e, "lr": 0.1 / e, "val_acc": 0.5, "lr_estimate": 0.3 + e / 10})
            + "\n"
            for e in (1, 2, 3)
        )
    )
    best = max(study.trials, key=lambda t: t.value).number
    logged = optuna.create_study(direction="maximize")
    logged.set_user_attr("metrics", ["best_val_acc"])
    logged.set_user_attr("bounds", {"min_lr": 0.06, "max_lr": 0.6, "source": "file", "path": None})
    for t in study.trials:  # the best trial's job dir holds a metrics.jsonl with lr_estimate
        attrs = {**t.user_attrs, **({"job_dir": str(job)} if t.number == best else {})}
        logged.add_trial(
            optuna.trial.create_trial(
                params=t.params, distributions=t.distributions, value=t.value, user_attrs=attrs
            )
        )
    study = logged
    summary = write_report(
        study, tmp_path / "rep", pareto_x=None, pareto_y=None, lr="max_lr", wd="wd", images=False
    )
    assert (
        "lr_estimate" in summary["written"]
        and "range test max_lr" in (tmp_path / "rep" / "lr_estimate.html").read_text()
    )


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_study_figures_draw_the_best_as_best_and_never_import_optuna_visualization(direction):
    """Darkest parcoords line = best trial; the history's best line only improves; the
    importance bars put the param the objective follows on top."""
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(0))
    sign = 1 if direction == "maximize" else -1
    study.optimize(
        lambda t: (
            sign * (-((math.log10(t.suggest_float("lr", 1e-4, 1, log=True)) + 2) ** 2))
            + 0.001 * t.suggest_float("noise", 0, 1)
        ),
        n_trials=40,
    )
    trials = study.get_trials()
    maximize = direction == "maximize"
    par = study_figures.parallel(trials, "acc", maximize).data[0]
    assert par.line.reversescale is (not maximize) and par.line.colorscale[-1][1] == "rgb(8,48,107)"
    assert [d.label for d in par.dimensions] == ["acc", "lr (log)", "noise"]
    best = study_figures.history(trials, "acc", maximize).data[1].y
    assert all(
        (b2 >= b1) if maximize else (b2 <= b1) for b1, b2 in zip(best[:-1], best[1:], strict=True)
    )
    bars = study_figures.importance(trials, "acc", maximize).data[0]
    assert bars.y[-1] == "lr"  # the top bar


def test_a_report_loads_neither_sklearn_nor_matplotlib(tmp_path):
    """They cost over a second of a report's start-up (optuna.importance, optuna.visualization)."""
    code = f"""
import sys, optuna
from pathlib import Path
from reports import write_report
study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
study.optimize(lambda t: t.suggest_float("max_lr", 1e-3, 1, log=True) + t.suggest_float("wd", 1e-6, 1e-2, log=True), n_trials=12)
write_report(study, Path({str(tmp_path)!r}), pareto_x=None, pareto_y=None, lr="max_lr", wd="wd", images=False)
print(sorted(m for m in ("sklearn", "matplotlib", "optuna.visualization", "optuna.importance", "torch") if m in sys.modules))
"""
    p = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().splitlines()[-1] == "[]"
    assert {"history.html", "importance.html", "parallel.html"} <= {
        f.name for f in tmp_path.iterdir()
    }


def test_a_grid_over_wd_alone_colours_its_curves_by_wd():
    from reports._page import _varied
    from reports._study_data import Row

    def row(wd):
        params = {"max_lr": 0.1, "wd": wd}
        return Row(0, "complete", "completed", params, [0.9], 1, 1.0, 0.9, None, "0", "")

    assert _varied([row(1e-4), row(1e-3)], "max_lr", "wd") == "wd"
    assert _varied([row(1e-4), row(1e-4)], "max_lr", "wd") == "max_lr"


def test_a_report_from_a_dir_without_a_study_leaves_nothing_behind(tmp_path):
    """The campaign's case: `tasks.report study_name=...` without storage= from another dir
    said the default storage was missing and left an empty multirun/ (and Hydra's run dir)."""
    p = report_cli("study_name=mystudy", cwd=tmp_path)
    assert p.returncode == 2 and "multirun/optuna.db does not exist" in p.stderr, p.stderr
    assert "run a sweep first or pass storage=" in p.stderr.strip().splitlines()[-1]
    assert list(tmp_path.iterdir()) == [], "no multirun/, no outputs/ left"
