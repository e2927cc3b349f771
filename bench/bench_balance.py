"""The regularization-balance claim and super-convergence on MNIST-1D cnn1d (issue 11).

    python bench/bench_balance.py grid            # dense Hydra grid (9 max_lr x 14 wd x 3 seeds), read by tasks.report
    python bench/bench_balance.py preset          # sweep=balance twice (run seeds 0,1 and 2,3): verdict vs the grid's
    python bench/bench_balance.py ridge           # TPE on (max_lr, wd) vs (max_lr, lr x wd): trials to within 1 point of the grid's best
    python bench/bench_balance.py convergence     # one cycle at the range-test peak vs the step schedule, with and without BatchNorm
    python bench/bench_balance.py report          # the tables for BENCHMARKS.md

The grid and the presets run through the real apps (``python -m tasks.train -m ...`` and
``python -m tasks.report sweep_dir=...``); the ridge and convergence parts run trials in
this process through ``training.runner.run``. Everything selects on validation accuracy;
test accuracy is reported, never used. Results go to ``bench/results/balance/``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import optuna
import yaml
from hydra import compose, initialize_config_dir

from training.range_test import range_test
from training.runner import run

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "balance"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
EPOCHS = 15  # as sweep=lr_wd and sweep=balance
GRID_LR = np.geomspace(
    0.0194, 1.94, 9
)  # 1.5 decades below to half a decade above the range test's max_lr bound (0.614)
GRID_WD = 10 ** (-5 + np.arange(14) / 3)  # 1e-5 .. 2.2e-1, a third of a decade apart
PLAIN = {"max_lr": (0.0194, 1.94), "wd": (1e-5, 1e-1)}
PRODUCT = {
    "max_lr": (0.0194, 1.94),
    "lr_x_wd": (1e-6, 1e-2),
}  # the same four decades, along the diagonal


def app(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=ENV, check=True, capture_output=True, text=True
    )


def report(sweep_dir: Path, out: Path) -> dict:
    app("tasks.report", f"sweep_dir={sweep_dir}", f"hydra.run.dir={out}", "images=false", cwd=OUT)
    return json.loads((out / "report.json").read_text())


def grid() -> None:
    sweep = OUT / "grid"
    lrs = ",".join(f"{v:.3g}" for v in GRID_LR)
    wds = ",".join(f"{v:.3g}" for v in GRID_WD)
    app(
        "tasks.train",
        "-m",
        f"max_lr={lrs}",
        f"wd={wds}",
        "seed=0,1,2",
        f"epochs={EPOCHS}",
        "threads=1",
        "device=cpu",
        f"hydra.sweep.dir={sweep}",
        cwd=OUT,
    )
    b = report(sweep, OUT / "grid_report")["balance"]
    print(b["verdict"], *b["warnings"], sep="\n")


def preset() -> None:
    for seeds in ("0,1", "2,3"):
        name = f"preset_seeds{seeds.replace(',', '')}"
        app(
            "tasks.train",
            "-m",
            "sweep=balance",
            f"seed=choice({seeds})",
            f"hydra.sweeper.storage=sqlite:///{OUT / 'preset.db'}",
            f"hydra.sweeper.study_name={name}",
            f"hydra.sweep.dir={OUT / name}",
            "threads=1",
            "device=cpu",
            cwd=OUT,
        )
        b = report(OUT / name, OUT / f"{name}_report")["balance"]
        print(name, b["verdict"], *b["warnings"], sep="\n")


def grid_target() -> float:
    """The best cell of the dense grid (mean best_val_acc over its seeds) minus 1 point."""
    cells: dict[tuple[str, str], list[float]] = {}
    for s in (OUT / "grid").glob("*/summary.json"):
        overrides = dict(
            o.split("=", 1)
            for o in yaml.safe_load((s.parent / ".hydra" / "overrides.yaml").read_text())
        )
        summary = json.loads(s.read_text())
        if summary["status"] == "completed":
            cells.setdefault((overrides["max_lr"], overrides["wd"]), []).append(
                summary["best_val_acc"]
            )
    return max(statistics.mean(v) for v in cells.values()) - 0.01


def train_cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=["threads=1", "device=cpu", *overrides])


def one_run(tmp: Path, **params: float | int | str) -> dict:
    out = tmp / f"r{len(list(tmp.iterdir()))}"
    run(
        train_cfg(
            *(f"{k}={v!r}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        ),
        out,
    )
    return json.loads((out / "summary.json").read_text())


def ridge(seeds: list[int], n: int) -> None:
    """TPE (the sweeper's defaults: multivariate, 5 startup trials) per space and sampler seed."""
    target = grid_target()
    results = {"target": target, "runs": {}}
    for space_name, space in (("plain", PLAIN), ("product", PRODUCT)):
        for seed in seeds:
            study = optuna.create_study(
                direction="maximize",
                sampler=optuna.samplers.TPESampler(
                    seed=seed, n_startup_trials=5, multivariate=True
                ),
            )
            dists = {
                k: optuna.distributions.FloatDistribution(*v, log=True) for k, v in space.items()
            }
            values = []
            with tempfile.TemporaryDirectory() as d:
                for _ in range(n):
                    t = study.ask(dists)
                    p = dict(t.params)
                    if "lr_x_wd" in p:
                        p["wd"] = p.pop("lr_x_wd") / p["max_lr"]
                    s = one_run(Path(d), max_lr=p["max_lr"], wd=p["wd"], epochs=EPOCHS, seed=0)
                    ok = s["status"] == "completed"
                    study.tell(
                        t,
                        s["best_val_acc"] if ok else None,
                        state=None if ok else optuna.trial.TrialState.PRUNED,
                    )
                    values.append(s["best_val_acc"] if ok else None)
            results["runs"][f"{space_name}/{seed}"] = values
            hit = next((i + 1 for i, v in enumerate(values) if v is not None and v >= target), None)
            print(space_name, seed, "trials to target:", hit, flush=True)
    (OUT / "ridge.json").write_text(json.dumps(results))


def epochs_to_match(curve: dict[int, float], target: float) -> int | None:
    return next((e for e, v in sorted(curve.items()) if v >= target), None)


def convergence(seeds: list[int]) -> None:
    """Step (lr 0.3, x0.1 at 50/75%, 100 epochs) vs one cycle at the range test's suggested peak,
    at 10..100 epochs; with and without BatchNorm. Mean best validation accuracy over seeds."""
    rows = {}
    for bn in (True, False):
        with tempfile.TemporaryDirectory() as d:
            with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
                rt_cfg = compose(
                    "range_test",
                    overrides=["threads=1", "device=cpu", f"model.batch_norm={str(bn).lower()}"],
                )
            peak = range_test(rt_cfg, Path(d) / "rt")["suggested_max_lr"]
            step = [
                one_run(
                    Path(d),
                    **{
                        "schedule": "step",
                        "max_lr": 0.3,
                        "epochs": 100,
                        "seed": s,
                        "model.batch_norm": str(bn).lower(),
                    },
                )
                for s in seeds
            ]
            cycle = {
                e: [
                    one_run(
                        Path(d),
                        **{
                            "max_lr": float(peak),
                            "epochs": e,
                            "seed": s,
                            "model.batch_norm": str(bn).lower(),
                        },
                    )
                    for s in seeds
                ]
                for e in (10, 20, 30, 50, 75, 100)
            }
        mean = lambda runs, k: statistics.mean(r[k] if r[k] is not None else 0.0 for r in runs)  # noqa: E731
        target = mean(step, "best_val_acc")
        curve = {e: mean(runs, "best_val_acc") for e, runs in cycle.items()}
        rows["bn" if bn else "no_bn"] = {
            "peak": peak,
            "step_best_val": target,
            "step_test": mean(step, "test_acc_at_best"),
            "step_status": [r["status"] for r in step],
            "cycle": {
                e: {
                    "best_val": curve[e],
                    "test": mean(runs, "test_acc_at_best"),
                    "status": [r["status"] for r in runs],
                }
                for e, runs in cycle.items()
            },
            "epochs_to_match": epochs_to_match(curve, target),
        }
        print("bn" if bn else "no_bn", json.dumps(rows["bn" if bn else "no_bn"]), flush=True)
    (OUT / "convergence.json").write_text(json.dumps(rows))


def summarize() -> None:
    for name in ("grid_report", "preset_seeds01_report", "preset_seeds23_report"):
        f = OUT / name / "report.json"
        if f.is_file():
            b = json.loads(f.read_text())["balance"]
            ci = b["slope_ci"] or [math.nan, math.nan]
            print(
                f"| {name.removesuffix('_report')} | {b['runs']} | {len(b['levels'])} | {b['slope']:+.2f} [{ci[0]:+.2f}, {ci[1]:+.2f}] | {b['verdict']} |"
            )
    f = OUT / "ridge.json"
    if f.is_file():
        r = json.loads(f.read_text())
        best_cell = r["target"] + 0.01
        print(f"grid: best cell (mean best_val_acc over 3 seeds) {best_cell:.4f}")
        for gap in (0.01, 0.005):
            for space in ("plain", "product"):
                runs = [vals for k, vals in r["runs"].items() if k.startswith(space)]
                hits = [
                    next(
                        (
                            i + 1
                            for i, v in enumerate(vals)
                            if v is not None and v >= best_cell - gap
                        ),
                        None,
                    )
                    for vals in runs
                ]
                found = sorted(h for h in hits if h is not None)
                med = statistics.median(found) if len(found) == len(hits) else "n/a"
                best = statistics.mean(max(v for v in vals if v is not None) for vals in runs)
                print(
                    f"| {gap * 100:g} point | {space} | {hits} | {med} | {len(found)}/{len(hits)} | {best:.4f} |"
                )
    f = OUT / "convergence.json"
    if f.is_file():
        print(json.dumps(json.loads(f.read_text()), indent=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=["grid", "preset", "ridge", "convergence", "report"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--trials", type=int, default=40)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    {
        "grid": grid,
        "preset": preset,
        "ridge": lambda: ridge(args.seeds, args.trials),
        "convergence": lambda: convergence(args.seeds[:2]),
        "report": summarize,
    }[args.part]()


if __name__ == "__main__":
    main()
