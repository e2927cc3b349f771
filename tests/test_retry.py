"""A worker preempted mid-trial (SIGTERM to the sweep process, as SLURM sends to a worker job):
the run checkpoints and the process ends by the signal; the same command again with
``faults.retry_failed`` adopts the trial left RUNNING and runs it again in its own job dir,
where the run resumes from its checkpoint instead of starting over."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest
from optuna.trial import TrialState

from .test_sweeper import env, load

pytestmark = pytest.mark.slow


def test_a_retried_trial_resumes_from_the_checkpoint_of_the_preempted_one(tmp_path):
    args = [
        sys.executable,
        "-m",
        "tasks.train",
        "-m",
        "hydra/sweeper=supersweep",
        f"hydra.sweeper.storage=sqlite:///{tmp_path / 'optuna.db'}",
        "hydra.sweeper.study_name=s",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "data=mnist1d",
        "epochs=3",
        "batch_size=2",
        "threads=1",
        "max_lr=interval(0.005, 0.01)",
    ]
    restore_sigterm = lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL)  # noqa: E731
    first = subprocess.Popen(
        [*args, "hydra.sweeper.n_trials=1"],
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=restore_sigterm,
    )
    metrics = tmp_path / "sweep" / "0" / "metrics.jsonl"
    deadline = time.monotonic() + 180
    while not (metrics.exists() and metrics.read_text().count("\n") >= 1):
        assert time.monotonic() < deadline and first.poll() is None, "the first epoch did not end"
        time.sleep(0.2)
    first.send_signal(signal.SIGTERM)
    out, _ = first.communicate(timeout=120)
    assert first.returncode == -signal.SIGTERM, out  # ended by the signal, after the checkpoint
    assert re.search(r"SIGTERM after step \d+: checkpoint", out), out
    assert load(tmp_path).trials[0].state == TrialState.RUNNING  # what a preempted worker leaves

    # the resumed sweep adopts the preempted trial: the same trial continues in its own dir
    p = subprocess.run(
        [*args, "hydra.sweeper.n_trials=1", "hydra.sweeper.faults.retry_failed=true"],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    (trial,) = load(tmp_path).trials
    assert trial.state == TrialState.COMPLETE, trial
    log = (tmp_path / "sweep" / "0" / "train.log").read_text()
    assert re.search(r"resuming from .*checkpoint.pt after epoch 1", log), log
    assert sorted(trial.intermediate_values) == [1, 2, 3], "each epoch reported once, by its run"
