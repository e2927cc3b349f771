"""Where a no-op trial's time goes in our sweeper: wall time inside the main steps, per trial.

    python bench/sweeper_breakdown.py [--trials 100]

Runs ``tests/apps/tiny.py report=false`` through the sweeper (TPE, SQLite, defaults) in this
process with timers around Optuna's calls, the compose cache and Hydra's job steps.
Nested steps are also counted in their parents (a job's compose is in ``launch``).
"""

from __future__ import annotations

import argparse
import functools
import runpy
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import hydra._internal.core_plugins.basic_launcher as basic_launcher
import hydra.core.utils
import optuna

import sweeper._compose

ROOT = Path(__file__).resolve().parents[1]
SPENT: defaultdict[str, float] = defaultdict(float)
CALLS: Counter[str] = Counter()


def timed(owner: object, name: str, label: str) -> None:
    f = getattr(owner, name)

    @functools.wraps(f)
    def wrapper(*a, **k):
        t0 = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            SPENT[label] += time.perf_counter() - t0
            CALLS[label] += 1

    setattr(owner, name, wrapper)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=100)
    n = ap.parse_args().trials
    for owner, name, label in [
        (basic_launcher.BasicLauncher, "launch", "launch (a whole job)"),
        (sweeper._compose.CachedConfigLoader, "load_sweep_config", "  compose (cache)"),
        (basic_launcher, "run_job", "  run_job (Hydra)"),
        (hydra.core.utils, "_save_config", "    .hydra/*.yaml"),
        (basic_launcher, "configure_log", "  logging set-up (launch)"),
        (optuna.Study, "ask", "optuna ask (TPE)"),
        (optuna.Study, "tell", "optuna tell"),
        (optuna.trial.Trial, "set_user_attr", "optuna set_user_attr"),
        (optuna.Study, "get_trials", "optuna get_trials (count)"),
    ]:
        timed(owner, name, label)
    with tempfile.TemporaryDirectory() as d:
        sys.argv = [
            str(ROOT / "tests/apps/tiny.py"),
            "-m",
            "hydra/sweeper=supersweep",
            "report=false",
            "x=interval(0, 1)",
            f"hydra.sweeper.n_trials={n}",
            f"hydra.sweeper.storage=sqlite:///{d}/o.db",
            "hydra.sweeper.study_name=s",
            f"hydra.sweep.dir={d}/sweep",
        ]
        t0 = time.perf_counter()
        try:
            runpy.run_path(sys.argv[0], run_name="__main__")
        except SystemExit:
            pass
        wall = time.perf_counter() - t0
    print(f"{n} trials, {wall / n * 1000:.1f} ms per trial including start-up")
    print("| step | ms per trial | calls per trial |")
    print("|---|---|---|")
    for label, s in SPENT.items():
        print(f"| {label} | {s / n * 1000:.1f} | {CALLS[label] / n:g} |")


if __name__ == "__main__":
    main()
