"""Search efficiency on MNIST-1D cnn1d one-cycle (issue 4, benchmarks 1 and 2).

(1) Trials a range-test-seeded TPE search needs to come within 1 point of the best
    validation accuracy of a 64-point LR x WD grid, against TPE over wide default
    bounds (lr 1e-4..10, wd 1e-6..1e-2, log), median over seeds.
(2) Total epochs with pruning vs none, and the accuracy each search returns: the real
    sweeper (``python -m tasks.train -m hydra/sweeper=supersweep``) per arm and seed, the
    same seeded TPE, 30 trials of ``--epochs`` (15, as in ``sweep=lr_wd``); arms: no pruner,
    Hyperband on per-epoch reports, and rungs of short complete one-cycle runs (1 and 3
    epochs before the full run) with successive halving or Hyperband promoting between them.

Part (1) runs trials in this process through ``training.runner.run`` with the sweeper's own
parts (``sweeper._space`` bounds, ``sweeper._seeding`` from a real range test); every trial
is recorded, so the numbers are computed afterwards.

    python bench/bench_search.py grid                 # the 64-point grid (the target)
    python bench/bench_search.py tpe --seeds 0 1 2    # seeded and unseeded TPE per seed
    python bench/bench_search.py prune --arms none sha_rungs  # pruning arms vs none (seeded TPE)
    python bench/bench_search.py report               # the tables for BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import optuna
from hydra import compose, initialize_config_dir

from sweeper._seeding import from_result
from training.range_test import range_test
from training.runner import run

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results"
BASE = ["threads=1", "device=cpu"]
WIDE_LR, WD = (1e-4, 10.0), (1e-6, 1e-2)


def cfg(*overrides: str, name: str = "train"):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(
            name, overrides=[*BASE, *(["epochs=10"] if name == "train" else []), *overrides]
        )


def trial_run(max_lr: float, wd: float, tmp: Path, epochs: int = 10) -> dict:
    out = tmp / f"lr{max_lr:.3e}_wd{wd:.3e}_{np.random.randint(1 << 30)}"
    max_lr, wd = float(max_lr), float(wd)  # numpy 2 reprs as np.float64(...), not an override value
    run(cfg(f"max_lr={max_lr!r}", f"wd={wd!r}", f"epochs={epochs}"), out)
    s = json.loads((out / "summary.json").read_text())
    return {
        "max_lr": max_lr,
        "wd": wd,
        "best_val_acc": s["best_val_acc"] or 0.0,
        "epochs": s["epochs"],
        "status": s["status"],
    }


def grid(tmp: Path) -> None:
    rows = [
        trial_run(lr, wd, tmp) for lr in np.geomspace(*WIDE_LR, 8) for wd in np.geomspace(*WD, 8)
    ]
    (OUT / "grid.json").write_text(json.dumps(rows))
    print("grid best", max(r["best_val_acc"] for r in rows))


def seeded_bounds(tmp: Path) -> dict:
    result = range_test(cfg(name="range_test"), tmp / "range_test")
    seed = from_result(result, "file", "bench")
    return {
        "low": seed.low,
        "high": seed.high,
        "suggested": seed.suggested,
        "range_test_epochs": result["epochs"],
    }


def tpe(
    seed: int, lr_bounds: tuple[float, float], first_lr: float | None, n: int, tmp: Path
) -> list[dict]:
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
    )
    space = {
        "max_lr": optuna.distributions.FloatDistribution(*lr_bounds, log=True),
        "wd": optuna.distributions.FloatDistribution(*WD, log=True),
    }
    if first_lr is not None:
        study.enqueue_trial({"max_lr": first_lr})
    rows = []
    for _ in range(n):
        t = study.ask(space)
        r = trial_run(t.params["max_lr"], t.params["wd"], tmp)
        if r["status"] == "completed":
            study.tell(t, r["best_val_acc"])
        else:
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        rows.append(r)
    return rows


PRUNE_ARMS = {
    "none": ["hydra/sweeper/supersweep_pruner=none"],
    "hyperband_epochs": ["hydra/sweeper/supersweep_pruner=hyperband"],
    "sha_rungs": [
        "hydra/sweeper/supersweep_pruner=successive_halving",
        "hydra.sweeper.pruner.min_resource=1",
        "hydra/sweeper/supersweep_scheduler=rungs",
        "hydra.sweeper.scheduler.rungs=[1,3]",
    ],
    "sha4_rungs": [
        "hydra/sweeper/supersweep_pruner=successive_halving",
        "hydra.sweeper.pruner.min_resource=1",
        "hydra.sweeper.pruner.reduction_factor=4",
        "hydra/sweeper/supersweep_scheduler=rungs",
        "hydra.sweeper.scheduler.rungs=[1,4]",
    ],
    "hyperband_rungs": [
        "hydra/sweeper/supersweep_pruner=hyperband",
        "hydra/sweeper/supersweep_scheduler=rungs",
        "hydra.sweeper.scheduler.rungs=[1,3]",
    ],
    # MORL (issue 12): the same rungs, each promoted run continuing from the last with a new cycle
    "sha_rungs_continue": [
        "hydra/sweeper/supersweep_pruner=successive_halving",
        "hydra.sweeper.pruner.min_resource=1",
        "hydra/sweeper/supersweep_scheduler=continuation",
        "hydra.sweeper.scheduler.rungs=[1,3]",
    ],
}


def prune_arm(
    seed: int, arm: str, epochs: int, range_test_dir: Path, tmp: Path, n_trials: int = 30
) -> dict:
    """One real sweep (the plugin, Hydra's launcher, a SQLite study) and what it spent and found."""
    url = f"sqlite:///{tmp / f'{arm}{seed}.db'}"
    cmd = [
        sys.executable,
        "-m",
        "tasks.train",
        "-m",
        "hydra/sweeper=supersweep",
        *BASE,
        f"epochs={epochs}",
        "wd=tag(log, interval(1e-6, 1e-2))",
        f"hydra.sweeper.space.range_test={range_test_dir}",
        f"hydra.sweeper.n_trials={n_trials}",
        f"hydra.sweeper.sampler.seed={seed}",
        f"hydra.sweeper.storage={url}",
        "hydra.sweeper.study_name=b",
        f"hydra.sweep.dir={tmp / f'{arm}{seed}'}",
        *PRUNE_ARMS[arm],
    ]
    if "hyperband" in arm:
        cmd.append(f"hydra.sweeper.pruner.max_resource={epochs}")
    subprocess.run(
        cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True
    )
    trials = optuna.load_study(study_name="b", storage=url).trials
    best = max(
        (t for t in trials if t.state == optuna.trial.TrialState.COMPLETE), key=lambda t: t.value
    )
    return {
        "timeline": timeline(tmp / f"{arm}{seed}"),
        "epochs": sum(
            t.user_attrs.get("epochs_total", t.user_attrs.get("epochs") or 0) for t in trials
        ),
        "full_runs": sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials),
        "best_val_acc": best.value,
        "test_acc_of_best": best.user_attrs["test_acc"],
        "best_params": best.params,
    }


def timeline(sweep_dir: Path) -> list[list[float]]:
    """[epochs spent so far, best val acc of a full run so far] after each run (rung or full),
    in the order the runs finished: what a search had spent when it first reached a value."""
    runs = sorted(
        (f.stat().st_mtime, f.parent.name, json.loads(f.read_text()))
        for f in sweep_dir.glob("*/summary.json")
    )
    spent, best, out = 0, 0.0, []
    for _, name, s in runs:
        spent += s.get("epochs") or 0
        if (
            name.isdigit() and s.get("status") == "completed"
        ):  # a full run (rung runs are N-epochsK)
            best = max(best, s.get("best_val_acc") or 0.0)
        out.append([spent, best])
    return out


def epochs_to(tl: list[list[float]], target: float) -> int | None:
    return next((int(e) for e, b in tl if b >= target), None)


def fidelity(tmp: Path, full: int, points: int = 24, rungs: tuple[int, ...] = (1, 3)) -> None:
    """How well short complete runs rank trials by their full-run accuracy (Spearman), with the
    weight decay as sampled and scaled by full/rung (the same total decay, lr x wd x steps)."""
    from scipy.stats import spearmanr

    b = json.loads((OUT / "bounds.json").read_text())
    rng = np.random.default_rng(0)
    pts = [
        (
            float(np.exp(rng.uniform(*np.log([b["low"], b["high"]])))),
            float(np.exp(rng.uniform(*np.log(WD)))),
        )
        for _ in range(points)
    ]
    rows = []
    for lr, wd in pts:
        row = {"max_lr": lr, "wd": wd, "full": trial_run(lr, wd, tmp, full)["best_val_acc"]}
        for r in rungs:
            row[f"r{r}"] = trial_run(lr, wd, tmp, r)["best_val_acc"]
            row[f"r{r}_wd_scaled"] = trial_run(lr, wd * full / r, tmp, r)["best_val_acc"]
        rows.append(row)
        print(row, flush=True)
    (OUT / f"fidelity_e{full}.json").write_text(json.dumps(rows))
    for k in rows[0]:
        if k.startswith("r"):
            print(
                f"{k}: Spearman vs the {full}-epoch run {spearmanr([r[k] for r in rows], [r['full'] for r in rows])[0]:.2f}"
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=["grid", "tpe", "prune", "fidelity", "report"])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=15, help="prune: epochs of a full run")
    ap.add_argument(
        "--arms",
        nargs="*",
        default=None,
        help="tpe: seeded/unseeded; prune: " + "/".join(PRUNE_ARMS),
    )
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if a.part == "grid":
            grid(tmp)
        elif a.part == "fidelity":
            fidelity(tmp, a.epochs)
        elif a.part == "prune":
            rt = OUT / "range_test"
            if not (rt / "range_test.json").exists():
                range_test(cfg(name="range_test"), rt)
            for s in a.seeds:
                for arm in a.arms or list(PRUNE_ARMS):
                    res = prune_arm(s, arm, a.epochs, rt, tmp)
                    (OUT / f"prune_{arm}_e{a.epochs}_seed{s}.json").write_text(json.dumps(res))
                    print("prune seed", s, arm, res, flush=True)
        elif a.part == "tpe":
            b = seeded_bounds(tmp)
            (OUT / "bounds.json").write_text(json.dumps(b))
            arms = a.arms or ["seeded", "unseeded"]
            for s in a.seeds:
                path = OUT / f"tpe_seed{s}.json"
                res = json.loads(path.read_text()) if path.exists() else {}
                if "seeded" in arms:
                    res["seeded"] = tpe(s, (b["low"], b["high"]), b["suggested"], a.trials, tmp)
                if "unseeded" in arms:
                    res["unseeded"] = tpe(s, WIDE_LR, None, a.trials, tmp)
                path.write_text(json.dumps(res))
                print("tpe seed", s, "done", flush=True)
        else:
            report()


def first_within(rows: list[dict], target: float) -> int | None:
    best = 0.0
    for i, r in enumerate(rows, 1):
        best = max(best, r["best_val_acc"])
        if best >= target:
            return i
    return None


def report() -> None:
    tpe_runs = [json.loads(f.read_text()) for f in sorted(OUT.glob("tpe_seed*.json"))]
    if (OUT / "grid.json").exists() and tpe_runs:  # part (1) ran
        g = json.loads((OUT / "grid.json").read_text())
        target = max(r["best_val_acc"] for r in g) - 0.01
        b = json.loads((OUT / "bounds.json").read_text())
        print(
            f"grid best {target + 0.01:.4f} (target {target:.4f}); range-test bounds [{b['low']:.3g}, {b['high']:.3g}],",
            end=" ",
        )
        print(
            f"first trial {b['suggested']:.3g}, range test cost {b['range_test_epochs']:.2f} epochs"
        )
        for k in ("seeded", "unseeded"):
            n = [first_within(r[k], target) for r in tpe_runs]
            med = statistics.median(x if x is not None else 10**6 for x in n)
            print(
                f"TPE {k}: trials to within 1 point per seed {n} -> median {med if med < 10**6 else 'not reached'}"
            )
    for epochs in sorted(
        {int(f.name.split("_e")[-1].split("_")[0]) for f in OUT.glob("prune_*_e*_seed*.json")}
    ):
        prune = {
            arm: [
                json.loads(f.read_text())
                for f in sorted(OUT.glob(f"prune_{arm}_e{epochs}_seed*.json"))
            ]
            for arm in PRUNE_ARMS
        }
        none = statistics.median(r["epochs"] for r in prune["none"])
        print(f"\nfull runs of {epochs} epochs, 30 trials")
        print(
            "| arm | total epochs per seed | median | fewer than none | full runs | best val acc per seed | median | test acc of that trial | median |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for arm, rs in prune.items():
            if rs:
                ep, val, test, full = (
                    [x[k] for x in rs]
                    for k in ("epochs", "best_val_acc", "test_acc_of_best", "full_runs")
                )
                print(
                    f"| {arm} | {', '.join(map(str, ep))} | {statistics.median(ep)} | {none / statistics.median(ep):.2f}x | {statistics.median(full)} | "
                    f"{', '.join(f'{v:.4f}' for v in val)} | {statistics.median(val):.4f} | {', '.join(f'{v:.3f}' for v in test)} | "
                    f"{statistics.median(test):.3f} |"
                )
        timed = {arm: rs for arm, rs in prune.items() if rs and all("timeline" in r for r in rs)}
        if "none" in timed:
            # equal best accuracy as in part (1): epochs each search spends before a full run comes within 1 point of
            # the best the unpruned search finds (median over seeds)
            target = statistics.median(r["best_val_acc"] for r in timed["none"]) - 0.01
            print(
                f"\nepochs until a full run reaches val acc >= {target:.4f} (1 point below the unpruned median best)"
            )
            print("| arm | epochs per seed | median | fewer than none |")
            print("|---|---|---|---|")
            base = None
            for arm, rs in timed.items():
                n = [epochs_to(r["timeline"], target) for r in rs]
                med = statistics.median(x if x is not None else 10**6 for x in n)
                base = base or med
                print(
                    f"| {arm} | {', '.join(str(x) if x is not None else 'never' for x in n)} | {med if med < 10**6 else 'not reached'} | "
                    f"{base / med:.2f}x |"
                )


if __name__ == "__main__":
    main()
