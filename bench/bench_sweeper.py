"""Sweeper mechanics (issue 4, benchmarks 3 and 4).

(3) Per-trial overhead of our sweeper with a no-op task (tests/apps/tiny.py report=false)
    at 10, 100 and 1000 trials, against Hydra's BasicSweeper launching the same number of
    jobs of the same task, interleaved, with repeats: the mean time from one job's start to
    the next. Two more arms split ours: the random sampler (TPE's own work left out) and
    Hydra's per-job compose (compose cache off).
(4) Trials per minute of ``tasks.train`` (MNIST-1D cnn1d, 1 thread, max_lr in a range where
    no trial diverges, so every trial does the same work) with 2 worker processes sharing
    one study vs 1: ``(n - workers) / (last - first completion)`` from the study's
    timestamps (process start-up excluded).

    python bench/bench_sweeper.py overhead [--sizes 10 100 1000 --repeats 3]
    python bench/bench_sweeper.py workers [--trials 16 --epochs 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "tests" / "apps" / "tiny.py")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def ours(n: int, tmp: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        TINY,
        "-m",
        "hydra/sweeper=supersweep",
        "report=false",
        "x=interval(0, 1)",
        f"hydra.sweeper.n_trials={n}",
        f"hydra.sweeper.storage=sqlite:///{tmp / 'o.db'}",
        "hydra.sweeper.study_name=s",
        f"hydra.sweep.dir={tmp / 'sweep'}",
        *extra,
    ]


OVERHEAD_ARMS = {
    "hydra_basic": lambda n, tmp: [
        sys.executable,
        TINY,
        "-m",
        "report=false",
        f"y=range(0, {n})",
        f"hydra.sweep.dir={tmp / 'sweep'}",
    ],
    "ours": ours,
    "ours_random": lambda n, tmp: ours(
        n, tmp, "hydra/sweeper/supersweep_sampler=random"
    ),  # the same minus TPE's own work
    "ours_no_compose_cache": lambda n, tmp: ours(n, tmp, "hydra.sweeper.jobs.compose_cache=false"),
}


def per_trial_ms(arm: str, n: int) -> float:
    """Mean time from one job's start to the next (its ``.hydra/config.yaml`` is written as it
    starts), so process start-up and the first compose are left out."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        subprocess.run(
            OVERHEAD_ARMS[arm](n, tmp), cwd=tmp, env=ENV, check=True, capture_output=True
        )
        starts = sorted(f.stat().st_mtime for f in (tmp / "sweep").glob("*/.hydra/config.yaml"))
        assert len(starts) == n, f"{arm}: {len(starts)} jobs, expected {n}"
        return (starts[-1] - starts[0]) / (n - 1) * 1000


def overhead(sizes: list[int], repeats: int) -> None:
    print(f"| trials | {' | '.join(f'{a} ms/trial' for a in OVERHEAD_ARMS)} | ours / hydra_basic |")
    print("|---|" + "---|" * (len(OVERHEAD_ARMS) + 1))
    for n in sizes:
        runs: dict[str, list[float]] = {a: [] for a in OVERHEAD_ARMS}
        for _ in range(repeats if n <= 100 else 1):  # interleaved, so drift hits every arm alike
            for arm in OVERHEAD_ARMS:
                runs[arm].append(per_trial_ms(arm, n))
        med = {a: statistics.median(v) for a, v in runs.items()}
        cells = " | ".join(f"{med[a]:.1f} ({min(v):.0f}-{max(v):.0f})" for a, v in runs.items())
        print(f"| {n} | {cells} | {med['ours'] / med['hydra_basic']:.2f} |", flush=True)


def workers(trials: int, epochs: int) -> None:
    print("| workers | trials | trials/min (between first and last completion) |")
    print("|---|---|---|")
    rates = {}
    for n_workers in (1, 2):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            url = f"sqlite:///{tmp / 'o.db'}"
            cmd = [
                sys.executable,
                "-m",
                "tasks.train",
                "-m",
                "hydra/sweeper=supersweep",
                f"hydra.sweeper.storage={url}",
                "hydra.sweeper.study_name=w",
                f"hydra.sweeper.n_trials={trials}",
                "max_lr=tag(log, interval(0.05, 0.2))",
                f"epochs={epochs}",
                "threads=1",
                f"hydra.sweep.dir={tmp / 'sweep'}",
            ]
            procs = [
                subprocess.Popen(
                    cmd, cwd=tmp, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                for _ in range(n_workers)
            ]
            for p in procs:
                p.wait()
            done = sorted(
                t.datetime_complete.timestamp()
                for t in optuna.load_study(study_name="w", storage=url).trials
                if t.datetime_complete
            )
            # workers finish their first trials together: count completions after the first of each
            rates[n_workers] = (len(done) - n_workers) / (done[-1] - done[0]) * 60
            print(f"| {n_workers} | {len(done)} | {rates[n_workers]:.1f} |", flush=True)
    print(f"speed-up 2 workers / 1: {rates[2] / rates[1]:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=["overhead", "workers"])
    ap.add_argument("--sizes", type=int, nargs="*", default=[10, 100, 1000])
    ap.add_argument("--repeats", type=int, default=3, help="overhead: runs per arm at sizes <= 100")
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=6)
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    overhead(a.sizes, a.repeats) if a.part == "overhead" else workers(a.trials, a.epochs)


if __name__ == "__main__":
    main()
