"""Soak: two workers on one SQLite study, one of them SIGKILLed again and again at random
moments (0-150 ms after a trial finished, when it is telling that trial or asking the next),
restarted each time. Nothing is lost: the study reaches its total, every trial is finished
(none RUNNING), and no job dir is shared by two trials."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time

import pytest
from optuna.trial import TrialState

from .test_sweeper import env, load, tiny_args

pytestmark = pytest.mark.slow

N_TRIALS, KILLS = 30, 6


def start(tmp):
    args = tiny_args(
        tmp,
        "x=interval(0, 1)",
        "sleep_s=0.3",
        f"hydra.sweeper.n_trials={N_TRIALS}",
        "hydra.sweeper.faults.max_failure_rate=1.0",
    )
    return subprocess.Popen(
        args, cwd=tmp, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def finished_runs(tmp) -> int:
    return len(list((tmp / "sweep").glob("*/summary.json")))


def test_two_workers_survive_repeated_sigkills(tmp_path):
    rng = random.Random(0)
    steady, victim = start(tmp_path), start(tmp_path)
    kills, deadline = 0, time.monotonic() + 600
    while kills < KILLS and time.monotonic() < deadline:
        seen = finished_runs(tmp_path)
        while (
            finished_runs(tmp_path) == seen
            and victim.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)  # a trial just ended: its worker is telling it, or asking the next
        if victim.poll() is not None:
            assert victim.returncode == 0, victim.stderr.read()[-2000:]
            break  # the study is done
        time.sleep(rng.uniform(0, 0.15))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        kills += 1
        victim = start(tmp_path)
    assert kills >= 3, f"only {kills} kills landed before the study was done"
    for proc in (steady, victim):
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
    trials = load(tmp_path).get_trials()
    assert N_TRIALS <= len(trials) <= N_TRIALS + 1, (
        "the study total (two workers may both ask the last one)"
    )
    assert not [t.number for t in trials if t.state not in (TrialState.COMPLETE, TrialState.FAIL)]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert all("gone" in t.user_attrs.get("reason", "") for t in failed), [
        t.user_attrs for t in failed
    ]
    assert len(failed) <= kills, "a kill costs at most the trial it interrupted"
    dirs = [t.user_attrs["job_dir"] for t in trials if "job_dir" in t.user_attrs]
    assert len(dirs) == len(set(dirs)), "no job dir is shared by two trials"
    for t in trials:
        if t.state == TrialState.COMPLETE:
            params = json.loads((tmp_path / "sweep" / str(t.number) / "params.json").read_text())
            assert params["x"] == pytest.approx(t.params["x"]), "each dir holds its own trial"
