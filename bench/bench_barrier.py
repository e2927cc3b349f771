"""Batch mode vs workers pulling trials, with mixed trial lengths (issue 12, point 5).

A launcher batch is synchronous: a short (e.g. pruned) trial's slot idles until the slowest
trial of its batch ends. Workers that each run the sweeper with ``n_jobs=1`` on one study
pull the next trial as soon as theirs ends. Both arms run the same 16 trials of
``tests/apps/tiny.py`` (a grid of x; half of them 1 epoch of ``sleep_s``, as a pruned trial
would be, half 4 epochs) on 2 slots, in the grid's seeded random order, interleaved, with
repeats:

- ``batch``: one sweeper, ``hydra/launcher=joblib`` with 2 processes, ``hydra.sweeper.n_jobs=2``;
- ``pull``: two sweeper processes, ``n_jobs=1`` each, sharing the study (the README's recipe).

With ``--slurm`` the arms are SLURM jobs on a real single-node cluster (tests/cluster.py; needs
root and Debian's slurm-wlm, slurmdbd, munge, mariadb-server), ``n_jobs=2``:

- ``slurm_batch``: ``hydra.sweeper.jobs.in_flight=false``, a job array per batch that waits for all of it (as hydra-submitit's launch);
- ``slurm_in_flight``: one job per trial, the next submitted as soon as any ends;
- ``slurm_pull``: two worker jobs (``sbatch --wrap``), each a sweeper with ``n_jobs=1`` running
  its trials in its own process (the README's alternative without a sweeper on the login node).

Trials per hour over the span from the first trial's start to the last one's end, and idle
slot time: 1 - (sum of the jobs' own run times) / (2 slots x span).

    python bench/bench_barrier.py [--repeats 3 --sleep 0.3] [--slurm]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "tests" / "apps" / "tiny.py")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
SLURM = [
    "hydra/launcher=submitit_slurm",
    "hydra.launcher.timeout_min=60",
    "hydra.launcher.cpus_per_task=1",
    "hydra.sweeper.n_jobs=2",
]
TRIALS = 16


def args(tmp: Path, sleep: float, *extra: str) -> list[str]:
    return [
        sys.executable,
        TINY,
        "-m",
        "hydra/sweeper=supersweep",
        f"hydra.sweeper.storage=sqlite:///{tmp / 'o.db'}",
        "hydra.sweeper.study_name=b",
        f"hydra.sweep.dir={tmp / 'sweep'}",
        f"hydra.sweeper.n_trials={TRIALS}",
        f"x=choice({', '.join(f'{i / TRIALS:.4f}' for i in range(TRIALS))})",
        "epochs=4",
        "short_below=0.5",
        f"sleep_s={sleep}",
        "hydra/sweeper/supersweep_sampler=grid",
        *extra,
    ]


def measure(arm: str, sleep: float, seed: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        seeded = f"hydra.sweeper.sampler.seed={seed}"
        if arm == "slurm_pull":
            workers = [
                subprocess.run(
                    [
                        "sbatch",
                        "--parsable",
                        "-c",
                        "1",
                        "-o",
                        str(tmp / "worker-%j.out"),
                        "--wrap",
                        shlex.join(args(tmp, sleep, f"hydra.sweeper.sampler.seed={seed * 10 + i}")),
                    ],
                    cwd=tmp,
                    env=ENV,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.strip()
                for i in range(2)
            ]
            while subprocess.run(
                ["squeue", "-h", "-j", ",".join(workers)], env=ENV, capture_output=True, text=True
            ).stdout.strip():
                time.sleep(0.5)
        elif arm.startswith("slurm"):
            subprocess.run(
                args(
                    tmp,
                    sleep,
                    seeded,
                    *SLURM,
                    f"hydra.sweeper.jobs.in_flight={arm == 'slurm_in_flight'}",
                ),
                cwd=tmp,
                env=ENV,
                check=True,
                capture_output=True,
            )
        elif arm == "batch":
            subprocess.run(
                args(
                    tmp,
                    sleep,
                    seeded,
                    "hydra/launcher=joblib",
                    "hydra.launcher.n_jobs=2",
                    "hydra.sweeper.n_jobs=2",
                ),
                cwd=tmp,
                env=ENV,
                check=True,
                capture_output=True,
            )
        else:
            procs = [
                subprocess.Popen(
                    args(tmp, sleep, f"hydra.sweeper.sampler.seed={seed * 10 + i}"),
                    cwd=tmp,
                    env=ENV,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for i in range(2)
            ]
            assert all(p.wait() == 0 for p in procs)
        trials = [
            t
            for t in optuna.load_study(study_name="b", storage=f"sqlite:///{tmp / 'o.db'}").trials
            if t.datetime_complete
        ]
        span = (
            max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)
        ).total_seconds()
        # a job's own run time: from its params.json (written as it starts) to its summary.json (as it ends); a
        # trial's ask-to-tell time would count a batch's wait as work
        jobs = [(p.parent / "summary.json", p) for p in (tmp / "sweep").glob("*/params.json")]
        busy = sum(s.stat().st_mtime - p.stat().st_mtime for s, p in jobs if s.exists())
        return len(trials) / span * 3600, 1 - busy / (2 * span), len(trials)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sleep", type=float, default=0.3)
    ap.add_argument(
        "--slurm",
        action="store_true",
        help="SLURM jobs on a single-node cluster started for the run",
    )
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    arms = ("slurm_batch", "slurm_in_flight", "slurm_pull") if a.slurm else ("batch", "pull")
    runs: dict[str, list[tuple[float, float, int]]] = {
        arm: [] for arm in arms
    }  # (trials/hour, idle fraction, trials)
    with contextlib.ExitStack() as stack:
        if a.slurm:
            sys.path.insert(0, str(ROOT))
            from tests.cluster import slurm_cluster

            ENV.update(stack.enter_context(slurm_cluster()))
        for seed in range(a.repeats):  # interleaved
            for arm in runs:
                runs[arm].append(measure(arm, a.sleep, seed))
    print("| mode | trials/hour (median, min-max) | idle slot time (median) | trials per run |")
    print("|---|---|---|---|")
    for arm, rs in runs.items():
        rate = [r[0] for r in rs]
        print(
            f"| {arm} | {statistics.median(rate):.0f} ({min(rate):.0f}-{max(rate):.0f}) | {statistics.median(r[1] for r in rs):.0%} | {[r[2] for r in rs]} |"
        )


if __name__ == "__main__":
    main()
