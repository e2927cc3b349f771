"""Search efficiency on MNIST-1D cnn1d one-cycle (issue 4, benchmarks 1 and 2).

(1) Trials a range-test-seeded TPE search needs to come within 1 point of the best
    validation accuracy of a 64-point LR x WD grid, against TPE over wide default
    bounds (lr 1e-4..10, wd 1e-6..1e-2, log), median over seeds.
(2) Total epochs with Hyperband pruning vs none, and the best accuracy each reaches.

Trials run in this process through ``tasks.training.run`` with the sweeper's own parts
(``sweeper.space`` bounds, ``sweeper.seeding`` from a real range test, ``sweeper.trial.Reporter``
for pruning); every trial is recorded, so the numbers are computed afterwards.

    python bench/bench_search.py grid                 # the 64-point grid (the target)
    python bench/bench_search.py tpe --seeds 0 1 2    # seeded and unseeded TPE per seed
    python bench/bench_search.py prune --seeds 0 1 2  # hyperband vs none (seeded TPE)
    python bench/bench_search.py report               # the tables for BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
from pathlib import Path

import numpy as np
import optuna
from hydra import compose, initialize_config_dir

from sweeper.seeding import from_result
from sweeper.trial import Reporter
from tasks.range_test import range_test
from tasks.training import run

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results"
BASE = ["threads=1", "device=cpu"]
WIDE_LR, WD = (1e-4, 10.0), (1e-6, 1e-2)


def cfg(*overrides: str, name: str = "train"):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(name, overrides=[*BASE, *(["epochs=10"] if name == "train" else []), *overrides])


def trial_run(max_lr: float, wd: float, tmp: Path, callbacks=()) -> dict:
    out = tmp / f"lr{max_lr:.3e}_wd{wd:.3e}_{np.random.randint(1 << 30)}"
    max_lr, wd = float(max_lr), float(wd)  # numpy 2 reprs as np.float64(...), not an override value
    run(cfg(f"max_lr={max_lr!r}", f"wd={wd!r}"), out, callbacks=callbacks)
    s = json.loads((out / "summary.json").read_text())
    return {"max_lr": max_lr, "wd": wd, "best_val_acc": s["best_val_acc"] or 0.0, "epochs": s["epochs"], "status": s["status"]}


def grid(tmp: Path) -> None:
    rows = [trial_run(lr, wd, tmp) for lr in np.geomspace(*WIDE_LR, 8) for wd in np.geomspace(*WD, 8)]
    (OUT / "grid.json").write_text(json.dumps(rows))
    print("grid best", max(r["best_val_acc"] for r in rows))


def seeded_bounds(tmp: Path) -> dict:
    result = range_test(cfg(name="range_test"), tmp / "range_test")
    seed = from_result(result, "bench")
    return {"low": seed.low, "high": seed.high, "suggested": seed.suggested, "range_test_epochs": result["epochs"]}


def tpe(seed: int, lr_bounds: tuple[float, float], first_lr: float | None, n: int, tmp: Path, pruner=None) -> list[dict]:
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=5), pruner=pruner or optuna.pruners.NopPruner()
    )
    space = {"max_lr": optuna.distributions.FloatDistribution(*lr_bounds, log=True), "wd": optuna.distributions.FloatDistribution(*WD, log=True)}
    if first_lr is not None:
        study.enqueue_trial({"max_lr": first_lr})
    rows = []
    for _ in range(n):
        t = study.ask(space)
        r = trial_run(t.params["max_lr"], t.params["wd"], tmp, callbacks=[Reporter(t, "best_val_acc", True)])
        if r["status"] == "completed":
            study.tell(t, r["best_val_acc"])
        else:
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        rows.append(r)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=["grid", "tpe", "prune", "report"])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--arms", nargs="*", default=["seeded", "unseeded"], help="tpe: which arms to (re)run")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if a.part == "grid":
            grid(tmp)
        elif a.part in ("tpe", "prune"):
            b = seeded_bounds(tmp)
            (OUT / "bounds.json").write_text(json.dumps(b))
            for s in a.seeds:
                if a.part == "tpe":
                    path = OUT / f"tpe_seed{s}.json"
                    res = json.loads(path.read_text()) if path.exists() else {}
                    if "seeded" in a.arms:
                        res["seeded"] = tpe(s, (b["low"], b["high"]), b["suggested"], a.trials, tmp)
                    if "unseeded" in a.arms:
                        res["unseeded"] = tpe(s, WIDE_LR, None, a.trials, tmp)
                else:
                    hb = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=10, reduction_factor=3)
                    res = {
                        "hyperband": tpe(s, (b["low"], b["high"]), b["suggested"], 30, tmp, hb),
                        "none": tpe(s, (b["low"], b["high"]), b["suggested"], 30, tmp),
                    }
                (OUT / f"{a.part}_seed{s}.json").write_text(json.dumps(res))
                print(a.part, "seed", s, "done", flush=True)
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
    g = json.loads((OUT / "grid.json").read_text())
    target = max(r["best_val_acc"] for r in g) - 0.01
    b = json.loads((OUT / "bounds.json").read_text())
    print(f"grid best {target + 0.01:.4f} (target {target:.4f}); range-test bounds [{b['low']:.3g}, {b['high']:.3g}],", end=" ")
    print(f"first trial {b['suggested']:.3g}, range test cost {b['range_test_epochs']:.2f} epochs")
    runs = {p: [json.loads(f.read_text()) for f in sorted(OUT.glob(f"{p}_seed*.json"))] for p in ("tpe", "prune")}
    if runs["tpe"]:
        for k in ("seeded", "unseeded"):
            n = [first_within(r[k], target) for r in runs["tpe"]]
            med = statistics.median(x if x is not None else 10**6 for x in n)
            print(f"TPE {k}: trials to within 1 point per seed {n} -> median {med if med < 10**6 else 'not reached'}")
    if runs["prune"]:
        for k in ("hyperband", "none"):
            epochs = [sum(t["epochs"] for t in r[k]) for r in runs["prune"]]
            best = [max(t["best_val_acc"] for t in r[k]) for r in runs["prune"]]
            print(
                f"{k}: total epochs per seed {epochs} (median {statistics.median(epochs)}), best val acc per seed {best} (median {statistics.median(best):.4f})"
            )


if __name__ == "__main__":
    main()
