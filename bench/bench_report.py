"""Wall time of ``python -m tasks.report`` on a 100-trial study, against a baseline commit.

The study is made here, without training (``optuna.trial.create_trial``): a balance study's
shape, 5 max_lr levels x 10 wd levels x 2 seeds, 15 reported epochs per trial, the sweeper's
user attrs, in a temp SQLite file. The same command runs from this tree and from ``--baseline``
(a ``git worktree`` of that commit) on the same study, interleaved (A B A B ...), with
``images=false`` (PNG export starts a Chromium: seconds of its own, measured apart with
``--images``). Prints a Markdown row per side.

    python bench/bench_report.py [--baseline df2fb59] [--repeats 5] [--images]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

ROOT = Path(__file__).resolve().parents[1]
STUDY = "bench-report"
LRS = [0.0194, 0.0613, 0.194, 0.613, 1.94]
WDS = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1]


def make_study(url: str) -> None:
    """A ridge in log wd that falls with log lr (slope -1), seeds as noise."""
    rng = np.random.default_rng(0)
    study = optuna.create_study(study_name=STUDY, storage=url, direction="maximize")
    study.set_user_attr("metrics", ["best_val_acc"])
    study.set_metric_names(["best_val_acc"])
    dists = {
        "max_lr": FloatDistribution(1.94e-5, 1940.0, log=True),
        "wd": CategoricalDistribution(WDS),
        "seed": IntDistribution(0, 10000),
    }
    for lr in LRS:
        for wd in WDS:
            for seed in (0, 1):
                best = -3.0 - math.log10(lr)
                acc = 0.95 - 0.03 * (math.log10(wd) - best) ** 2 + rng.normal(0, 0.005)
                curve = {e: acc - 0.3 * math.exp(-e / 3) for e in range(1, 16)}
                study.add_trial(
                    optuna.trial.create_trial(
                        params={"max_lr": lr, "wd": wd, "seed": seed},
                        distributions=dists,
                        value=max(curve.values()),
                        intermediate_values=curve,
                        user_attrs={
                            "status": "completed",
                            "epochs": 15,
                            "steps": 420,
                            "wall_s": 7.0,
                            "test_acc": acc,
                            "replay": f"python -m tasks.train max_lr={lr} wd={wd} seed={seed}",
                        },
                    )
                )


def timed(tree: Path, url: str, out: Path, images: bool) -> float:
    cmd = [sys.executable, "-m", "tasks.report", f"study_name={STUDY}", f"storage={url}"]
    cmd += [f"hydra.run.dir={out}", f"images={str(images).lower()}"]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=out.parent, env=env, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default="df2fb59")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--images", action="store_true")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline],
            check=True,
            capture_output=True,
        )
        try:
            url = f"sqlite:///{tmp}/study.db"
            make_study(url)
            sides = {"this tree": ROOT, f"baseline {args.baseline}": base}
            seconds: dict[str, list[float]] = {k: [] for k in sides}
            for tree in sides.values():  # warm the file cache and the .pyc files
                timed(tree, url, Path(tmp) / "warm", args.images)
            for r in range(args.repeats):
                for name, tree in sides.items():
                    seconds[name].append(timed(tree, url, Path(tmp) / f"r{r}", args.images))
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                capture_output=True,
            )
    ours, theirs = seconds["this tree"], seconds[f"baseline {args.baseline}"]
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    print("| side | images | repeats | median s | min s | max s |")
    print("|---|---|---|---|---|---|")
    for name, s in seconds.items():
        print(
            f"| {name} | {args.images} | {len(s)} | {statistics.median(s):.2f} | {min(s):.2f} | {max(s):.2f} |"
        )
    print(
        f"\nratio this tree / baseline: median {statistics.median(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}]"
    )


if __name__ == "__main__":
    main()
