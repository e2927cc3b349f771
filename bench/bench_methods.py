"""SWA, EMA, Lookahead and SAM against plain one-cycle on MNIST-1D (issue 14), and the
Hessian-free lr estimate against the range test's bounds.

    python bench/bench_methods.py compare [--seeds 0 1 2]   # equal epochs, and SAM at equal wall time
    python bench/bench_methods.py estimate                  # lr_estimate per epoch vs the range test

``compare``: the super-convergence preset (cnn1d + BN, one cycle, max_lr 0.3, wd 2e-3, 50
epochs, 1 thread) with each method, every seed; validation-selected (best_val_acc and the
test accuracy of that epoch's weights, ``test_acc_at_best``); wall time per run. SAM costs
two passes per step, so it also runs at the epochs that take plain one-cycle's wall time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from training.range_test import range_test
from training.runner import run

ROOT = Path(__file__).resolve().parents[1]
BASE = ["experiment=super_convergence_mnist1d", "threads=1", "device=cpu"]
METHODS = {
    "plain one-cycle": [],
    "SWA (last 25%, swa_lr 0.05)": ["averaging=swa"],
    "EMA (decay 0.99)": ["averaging=ema"],
    "Lookahead (k 5, alpha 0.5)": ["wrapper=lookahead"],
    "SAM (rho 0.05)": ["wrapper=sam"],
}


def one(overrides: list[str], base: list[str] = BASE) -> tuple[dict, list[dict], float]:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[*base, *overrides])
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        run(cfg, Path(d))
        wall = time.perf_counter() - t0
        metrics = [
            json.loads(line) for line in (Path(d) / "metrics.jsonl").read_text().splitlines()
        ]
        return json.loads((Path(d) / "summary.json").read_text()), metrics, wall


def row(label: str, runs: list[tuple[dict, list[dict], float]], epochs: int) -> str:
    val = [s["best_val_acc"] for s, _, _ in runs]
    test = [s["test_acc_at_best"] for s, _, _ in runs]
    wall = [w for _, _, w in runs]
    sd = lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0  # noqa: E731
    return (
        f"| {label} | {epochs} | {len(runs)} | {statistics.mean(val):.4f} +- {sd(val):.4f} | {statistics.mean(test):.4f} +- {sd(test):.4f} "
        f"[{min(test):.3f}, {max(test):.3f}] | {statistics.mean(wall):.1f} |"
    )


def compare(seeds: list[int]) -> None:
    print(
        "| method | epochs | seeds | best val_acc (mean +- sd) | test_acc at that epoch (mean +- sd [min, max]) | wall s/run |"
    )
    print("|---|---|---|---|---|---|")
    walls = {}
    for label, overrides in METHODS.items():
        runs = [one([*overrides, f"seed={s}"]) for s in seeds]
        walls[label] = statistics.mean(w for _, _, w in runs)
        print(row(label, runs, 50), flush=True)
    epochs = max(2, round(50 * walls["plain one-cycle"] / walls["SAM (rho 0.05)"]))
    runs = [one(["wrapper=sam", f"epochs={epochs}", f"seed={s}"]) for s in seeds]
    print(row("SAM (rho 0.05), plain's wall time", runs, epochs), flush=True)


def estimate() -> None:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        rt_cfg = compose("range_test", overrides=["threads=1", "device=cpu"])
    with tempfile.TemporaryDirectory() as d:
        rt = range_test(rt_cfg, Path(d))
    print(
        f"range test: bounds [{rt['bounds']['min_lr']:.3g}, {rt['bounds']['max_lr']:.3g}], suggested max_lr {rt['suggested_max_lr']:.3g}"
    )
    for overrides in ([], ["max_lr=0.3", "epochs=50"]):
        _, metrics, _ = one(["lr_estimate=true", *overrides], base=["threads=1", "device=cpu"])
        picks = [
            m
            for m in metrics
            if m["epoch"]
            in (1, 2, 5, len(metrics) // 4, len(metrics) // 2, 3 * len(metrics) // 4, len(metrics))
        ]
        cells = ", ".join(
            f"epoch {m['epoch']}: {m['lr_estimate']:.3g} (lr {m['lr']:.3g})" for m in picks
        )
        print(
            f"cnn1d one-cycle {' '.join(overrides) or 'defaults (max_lr 0.1, 25 epochs)'}: {cells}"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=["compare", "estimate"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    compare(args.seeds) if args.part == "compare" else estimate()


if __name__ == "__main__":
    main()
