"""Sweeps as SLURM jobs on a PostgreSQL study, on a real single-node cluster (issue 12, point 7).

``hydra/launcher=submitit_slurm``: the sweeper keeps ``n_jobs`` jobs in flight. A
``scancel``led job fails only its own trial; a preempted job (SIGUSR2, submitit's requeue)
resumes from its checkpoint; Ctrl-C on the sweep cancels its jobs on the cluster. The
cluster (tests/cluster.py) and the server (tests/services.py) start in temp dirs and stop
after the module; without root or the Debian packages these tests skip with one line.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from .cluster import slurm_cluster
from .services import postgres_server
from .test_sweeper import TINY

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
# timeout_min: submitit calls a signal in a job's first 80% (or until 10 min before the end) a preemption, later a timeout
SLURM = [
    "hydra/launcher=submitit_slurm",
    "hydra.launcher.timeout_min=60",
    "hydra.launcher.cpus_per_task=1",
]


@pytest.fixture(scope="module")
def cluster():
    with postgres_server() as url, slurm_cluster() as env:
        yield {**env, "OPTUNA_DB": url, "PYTHONPATH": str(ROOT)}


def sweep(
    env: dict, tmp: Path, study: str, *args: str, app: list[str] | None = None
) -> subprocess.Popen:
    cmd = [
        *(app or [sys.executable, TINY]),
        "-m",
        "hydra/sweeper=supersweep",
        *SLURM,
        "hydra.sweeper.storage=${oc.env:OPTUNA_DB}",
        f"hydra.sweeper.study_name={study}",
        f"hydra.sweep.dir={tmp / study}",
        *args,
    ]
    # a shell's background job ignores SIGINT and passes that on: give the sweep Python's default handler
    restore_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    return subprocess.Popen(
        cmd,
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=restore_sigint,
    )


def until(
    check: Callable[[], object], what: str, proc: subprocess.Popen, timeout: float = 120.0
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None:
            pytest.fail(
                f"the sweep ended before {what}:\n{proc.stdout.read() if proc.stdout else ''}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:.0f} s")
        time.sleep(0.2)


def job_id(job_dir: Path, timeout: float = 120) -> str:
    """The SLURM job running a trial: Hydra records submitit's job id in the job's own config
    (read again until Hydra has written the whole file: it may be seen half written)."""
    deadline = time.monotonic() + timeout
    while True:
        path = job_dir / ".hydra" / "hydra.yaml"
        try:
            found = OmegaConf.select(OmegaConf.load(path), "hydra.job.id")
        except Exception:  # not there yet, or cut off mid-line
            found = None
        if found is not None:
            return str(found)
        if time.monotonic() > deadline:
            pytest.fail(f"{path} names no job id within {timeout:.0f} s")
        time.sleep(0.2)


def slurm(env: dict, *cmd: str) -> str:
    return subprocess.run(
        cmd, env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout


def states(env: dict, job: str) -> list[str]:
    """Every state the job went through (``--duplicates``: a requeued job's earlier runs too)."""
    out = slurm(
        env, "sacct", "--duplicates", "--noheader", "--parsable2", "-X", "-o", "State", "-j", job
    )
    return [s.split()[0] for s in out.split()]


def trials(env: dict, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=env["OPTUNA_DB"]).get_trials()


def test_a_scancelled_job_fails_only_its_trial_and_the_study_completes(cluster, tmp_path):
    p = sweep(
        cluster,
        tmp_path,
        "cancel",
        "x=interval(0, 1)",
        "epochs=3",
        "sleep_s=1.5",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.faults.max_failure_rate=0.5",
    )
    victim = tmp_path / "cancel" / "1"
    until(lambda: (victim / ".hydra" / "hydra.yaml").exists(), "trial 1's job started", p)
    job = job_id(victim)
    slurm(cluster, "scancel", job)
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0, out
    ts = {t.number: t for t in trials(cluster, "cancel")}
    assert len(ts) == 6  # the study's total, though one job was cancelled
    assert ts[1].state == TrialState.FAIL and f"job {job}" in ts[1].user_attrs["reason"], ts[
        1
    ].user_attrs
    assert all(t.state == TrialState.COMPLETE for n, t in ts.items() if n != 1), {
        n: t.state for n, t in ts.items()
    }
    assert "CANCELLED" in states(cluster, job)
    assert not slurm(cluster, "squeue", "-h").strip()
    # submitit's pickled calls, sbatch scripts and job logs hold the placeholder, never the password
    password = make_url(cluster["OPTUNA_DB"]).password
    assert password and not [
        f for f in tmp_path.rglob("*") if f.is_file() and password.encode() in f.read_bytes()
    ]
    assert password not in out


def test_a_preempted_trial_resumes_from_its_checkpoint(cluster, tmp_path):
    """SIGUSR2 (what SLURM sends before preempting): the run checkpoints mid-epoch, submitit
    requeues the job, and the requeued job trains only the steps it had not trained."""
    app = [sys.executable, "-m", "tasks.train"]
    p = sweep(
        cluster,
        tmp_path,
        "preempt",
        "data=mnist1d",
        "epochs=3",
        "batch_size=2",
        "threads=1",
        "max_lr=interval(0.005, 0.01)",
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.jobs.verbose=true",  # the job's info lines in submitit's log, read below
        app=app,
    )
    run = tmp_path / "preempt" / "0"
    until(
        lambda: (
            (run / "metrics.jsonl").exists()
            and (run / "metrics.jsonl").read_text().count("\n") >= 1
        ),
        "the first epoch",
        p,
    )
    job = job_id(run)
    slurm(cluster, "scancel", "--signal=USR2", job)
    # SLURM holds a requeued job back for about 2 minutes (its begin time) and then starts it. The
    # test waits: starting it early with `scontrol update StartTime=now` made its second run fail
    # at once now and then, before the first run was torn down on the node.
    until(
        lambda: "BeginTime" in slurm(cluster, "squeue", "-h", "-j", job, "-o", "%r"),
        "the requeued job pending",
        p,
    )
    out, _ = p.communicate(timeout=420)
    assert p.returncode == 0, out
    assert "REQUEUED" in states(cluster, job)
    log = "\n".join(
        f.read_text() for f in (tmp_path / "preempt" / ".submitit" / job).glob("*_log.out")
    )  # both runs of the job
    stopped = re.search(r"SIGUSR2 after step (\d+): checkpoint", log)
    assert stopped and int(stopped.group(1)) > 0, log
    assert re.search(r"resuming from .*checkpoint.pt after epoch 1", log), log
    # each epoch trained once over both runs: fewer than 2x the run's 3 epochs
    assert [int(e) for e in re.findall(r"epoch (\d)/3 train_loss", log)] == [1, 2, 3], log
    (t,) = trials(cluster, "preempt")
    assert t.state == TrialState.COMPLETE, t.user_attrs
    assert sorted(t.intermediate_values) == [
        1,
        2,
        3,
    ]  # the requeued job reported only epochs 2 and 3
    assert not (run / "checkpoint.pt").exists()


def test_ctrl_c_cancels_the_jobs_in_flight_and_fails_their_trials(cluster, tmp_path):
    p = sweep(
        cluster,
        tmp_path,
        "ctrlc",
        "x=interval(0, 1)",
        "sleep_s=300",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_jobs=2",
    )
    until(
        lambda: len(slurm(cluster, "squeue", "-h", "-t", "RUNNING", "-o", "%i").split()) == 2,
        "2 jobs running",
        p,
    )
    jobs = slurm(cluster, "squeue", "-h", "-o", "%i").split()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=120)
    assert p.returncode != 0, out
    deadline = time.monotonic() + 60
    while slurm(cluster, "squeue", "-h").strip() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not slurm(cluster, "squeue", "-h").strip(), "jobs left on the cluster after Ctrl-C"
    assert all("CANCELLED" in " ".join(states(cluster, j)) for j in jobs), {
        j: states(cluster, j) for j in jobs
    }
    ts = trials(cluster, "ctrlc")
    assert len(ts) == 2 and all(
        t.state == TrialState.FAIL and "Ctrl-C" in t.user_attrs["reason"] for t in ts
    ), [(t.state, t.user_attrs) for t in ts]
    assert "cancelled the jobs of trials [0, 1]" in out
