"""Sweeper mechanics (issue 4, benchmarks 3 and 4).

(3) Per-trial overhead of our sweeper with a no-op task (tests/apps/tiny.py report=false)
    at 10, 100 and 1000 trials, against Hydra's BasicSweeper launching the same number of
    jobs of the same task, run one after the other: (wall(N) - wall(1)) / (N - 1).
(4) Trials per minute of ``tasks.train`` (MNIST-1D cnn1d, 1 thread, max_lr in a range where
    no trial diverges, so every trial does the same work) with 2 worker processes sharing
    one study vs 1: ``(n - workers) / (last - first completion)`` from the study's
    timestamps (process start-up excluded).

    python bench/bench_sweeper.py overhead [--sizes 10 100 1000]
    python bench/bench_sweeper.py workers [--trials 16 --epochs 6]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "tests" / "apps" / "tiny.py")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=ENV, check=True, capture_output=True)
    return time.perf_counter() - t0


def ours(n: int, tmp: Path) -> list[str]:
    return [sys.executable, TINY, "-m", "hydra/sweeper=supersweep", "report=false", "x=interval(0, 1)", f"hydra.sweeper.n_trials={n}",
            f"hydra.sweeper.storage=sqlite:///{tmp / f'o{n}.db'}", "hydra.sweeper.study_name=s", f"hydra.sweep.dir={tmp / f'ours{n}'}"]  # fmt: skip


def basic(n: int, tmp: Path) -> list[str]:
    return [sys.executable, TINY, "-m", "report=false", f"y=range(0, {n})", f"hydra.sweep.dir={tmp / f'basic{n}'}"]


def overhead(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        one = {"ours": timed(ours(1, tmp), tmp), "basic": timed(basic(1, tmp), tmp)}
        print("| trials | ours ms/trial | BasicSweeper ms/job | ratio ours/basic |")
        print("|---|---|---|---|")
        for n in sizes:
            o = (timed(ours(n, tmp), tmp) - one["ours"]) / (n - 1) * 1000
            b = (timed(basic(n, tmp), tmp) - one["basic"]) / (n - 1) * 1000
            print(f"| {n} | {o:.1f} | {b:.1f} | {o / b:.2f} |", flush=True)


def workers(trials: int, epochs: int) -> None:
    print("| workers | trials | trials/min (between first and last completion) |")
    print("|---|---|---|")
    rates = {}
    for n_workers in (1, 2):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            url = f"sqlite:///{tmp / 'o.db'}"
            cmd = [sys.executable, "-m", "tasks.train", "-m", "hydra/sweeper=supersweep", f"hydra.sweeper.storage={url}",
                   "hydra.sweeper.study_name=w", f"hydra.sweeper.n_trials={trials}", "max_lr=tag(log, interval(0.05, 0.2))",
                   f"epochs={epochs}", "threads=1", f"hydra.sweep.dir={tmp / 'sweep'}"]  # fmt: skip
            procs = [subprocess.Popen(cmd, cwd=tmp, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for _ in range(n_workers)]  # fmt: skip
            for p in procs:
                p.wait()
            done = sorted(t.datetime_complete.timestamp() for t in optuna.load_study(study_name="w", storage=url).trials if t.datetime_complete)
            # workers finish their first trials together: count completions after the first of each
            rates[n_workers] = (len(done) - n_workers) / (done[-1] - done[0]) * 60
            print(f"| {n_workers} | {len(done)} | {rates[n_workers]:.1f} |", flush=True)
    print(f"speed-up 2 workers / 1: {rates[2] / rates[1]:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=["overhead", "workers"])
    ap.add_argument("--sizes", type=int, nargs="*", default=[10, 100, 1000])
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=6)
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    overhead(a.sizes) if a.part == "overhead" else workers(a.trials, a.epochs)


if __name__ == "__main__":
    main()
