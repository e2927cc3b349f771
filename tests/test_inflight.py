"""Jobs kept in flight (no batch barrier) through hydra-submitit's local launcher: the same
pool that drives ``submitit_slurm`` (tests/test_slurm.py runs it on a real cluster)."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from optuna.trial import TrialState

from .test_sweeper import env, load, sweep, tiny_args

pytestmark = pytest.mark.slow
LOCAL = ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=60"]


def test_a_new_trial_starts_as_soon_as_a_short_one_ends(tmp_path):
    """2 slots, one long trial: both short trials run while the long one still does (a batch
    would hold the third trial back until the long one ended)."""
    p = sweep(
        tmp_path,
        *LOCAL,
        "hydra/sweeper/supersweep_sampler=grid",
        "x=choice(0.9, 0.1, 0.2)",
        "short_below=0.5",
        "epochs=8",
        "sleep_s=1",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.n_jobs=2",
    )
    assert p.returncode == 0, p.stderr
    trials = load(tmp_path).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    runs = {
        json.loads((d / "params.json").read_text())["x"]: d
        for d in (tmp_path / "sweep").iterdir()
        if (d / "params.json").exists()
    }
    long_end = (runs[0.9] / "summary.json").stat().st_mtime
    assert all((runs[x] / "summary.json").stat().st_mtime < long_end for x in (0.1, 0.2)), (
        "a short trial waited for the long one"
    )


@pytest.mark.parametrize("in_flight", [True, False])
def test_ctrl_c_cancels_the_local_jobs_in_flight(tmp_path, in_flight):
    args = tiny_args(
        tmp_path,
        *LOCAL,
        "x=interval(0, 1)",
        "sleep_s=300",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_jobs=2",
        f"hydra.sweeper.jobs.in_flight={in_flight}",
    )
    restore_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    proc = subprocess.Popen(
        args,
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=restore_sigint,
    )
    deadline = time.monotonic() + 120
    while (
        len(list((tmp_path / "sweep").glob("*/params.json"))) < 2
    ):  # both jobs are running their task
        assert time.monotonic() < deadline and proc.poll() is None, "the jobs did not start"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "cancelled the jobs of trials [0, 1]" in out, out
    trials = load(tmp_path).get_trials()
    assert len(trials) == 2 and all(
        t.state == TrialState.FAIL and "Ctrl-C" in t.user_attrs["reason"] for t in trials
    )
    # submitit's local jobs are processes (each would sleep on for 300 s): none is left
    left = subprocess.run(
        ["pgrep", "-f", f"submitit.*{tmp_path}"], capture_output=True, text=True
    ).stdout.split()
    assert not left, left


def test_a_failure_rate_stop_cancels_the_jobs_still_in_flight(tmp_path):
    """Random sampler, seed 6: x = 0.89 (fails at once), 0.33 (runs 300 s), 0.82 (fails): two of
    two finished trials failed, the sweep stops and cancels the running one."""
    p = sweep(
        tmp_path,
        *LOCAL,
        "hydra/sweeper/supersweep_sampler=random",
        "hydra.sweeper.sampler.seed=6",
        "x=interval(0, 1)",
        "raise_above=0.5",
        "sleep_s=300",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.faults.max_failure_rate=0.5",
        timeout=240,
    )
    assert p.returncode == 2 and "max_failure_rate" in p.stderr.strip().splitlines()[-1], p.stderr
    trials = {t.number: t for t in load(tmp_path).get_trials()}
    assert (
        trials[1].params["x"] < 0.5 < min(trials[0].params["x"], trials[2].params["x"])
    )  # the seed's order, as the docstring says
    assert trials[1].state == TrialState.FAIL and "sweep stopped" in trials[1].user_attrs["reason"]
    assert "cancelled the jobs of trials [1]" in p.stdout + p.stderr
