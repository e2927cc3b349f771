"""How the sweep's jobs run: a launcher batch, or submitit jobs kept in flight.

Any Hydra launcher runs a batch and returns when its slowest job ends (:class:`BatchPool`).
With hydra-submitit's launchers (``hydra/launcher=submitit_slurm | submitit_local``) the sweep
submits its jobs itself, through submitit's public executor built from the launcher's config
values (:class:`SubmititPool`): ``n_jobs`` trials stay in flight and the next one is asked as
soon as any ends (or, with ``in_flight=false``, one job array per batch that waits for all of
it), and :meth:`cancel` (Ctrl-C, a failure-rate stop) cancels the jobs still queued or running.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf

from sweeper._job import Job
from sweeper._outcome import Outcome, dir_outcome, failed, job_outcome

if TYPE_CHECKING:
    from sweeper._hydra_job import HydraJob

log = logging.getLogger(__name__)

# hydra-submitit's launcher configs (``hydra.launcher._target_``) -> submitit's cluster name
SUBMITIT_CLUSTERS = {
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher": "local",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher": "slurm",
}
# the parameters submitit's AutoExecutor shares across clusters; any other launcher setting is
# the cluster's own (``slurm_partition``); submitit_folder and max_num_timeout set up the executor
SHARED_PARAMS = (
    "name", "timeout_min", "mem_gb", "nodes", "cpus_per_task", "gpus_per_node", "tasks_per_node",
    "stderr_to_stdout",
)  # fmt: skip
INIT_PARAMS = ("submitit_folder", "max_num_timeout")


class Pool(Protocol):
    def start(self, jobs: list[Job]) -> None: ...

    @property
    def in_flight(self) -> int: ...

    def wait(self, on_poll: Callable[[], None]) -> list[tuple[Job, Outcome]]: ...

    def cancel(self) -> None: ...


class BatchPool:
    """Any Hydra launcher: ``wait`` launches what was started as one batch and returns every job."""

    def __init__(self, launcher: Launcher, sweep_dir: Path, objectives: dict[str, str]) -> None:
        self.launcher, self.sweep_dir, self.objectives = launcher, sweep_dir, objectives
        self.pending: list[Job] = []

    def start(self, jobs: list[Job]) -> None:
        self.pending += jobs

    @property
    def in_flight(self) -> int:
        return len(self.pending)

    def wait(self, on_poll: Callable[[], None]) -> list[tuple[Job, Outcome]]:
        """Blocks in the launcher until the batch ends (``on_poll`` is not called)."""
        batch, self.pending = self.pending, []
        overrides = [job.to_overrides() for job in batch]
        try:
            returns = self.launcher.launch(overrides, initial_job_idx=batch[0].number)
            outcomes = [job_outcome(ret, self.objectives) for ret in returns]
        except Exception as e:  # the launcher lost the batch (a job process was killed): each job's own run dir says how it ended
            reason = f"launcher: {type(e).__name__}: {e}"[:500]
            numbers = [job.number for job in batch]
            log.error(
                f"the launcher lost the batch of trials {numbers} ({type(e).__name__}); reading each job's run dir"
            )
            outcomes = [self._after_loss(j, reason, len(batch) > 1) for j in batch]
        return list(zip(batch, outcomes, strict=True))

    def _after_loss(self, job: Job, reason: str, had_siblings: bool) -> Outcome:
        """A job of a lost batch: its result when it finished; else, when the batch held others,
        it runs once more on its own (a sibling's killed process takes the whole batch down,
        jobs still training with it), and fails only when it is lost again."""
        job_dir = self.sweep_dir / job.subdir
        if (job_dir / "summary.json").is_file() or not had_siblings:
            return dir_outcome(job_dir, self.objectives, reason)
        log.info(f"trial {job.number}: its run was cut off with the batch; running it again alone")
        try:
            (ret,) = self.launcher.launch([job.to_overrides()], initial_job_idx=job.number)
            return job_outcome(ret, self.objectives)
        except Exception as again:
            return dir_outcome(
                job_dir, self.objectives, f"launcher: {type(again).__name__}: {again}"[:500]
            )

    def cancel(self) -> None:
        """Nothing outlives a batch: its local processes end with the launcher's call."""


def make_pool(
    config: DictConfig,
    make_launcher: Callable[[], Launcher],
    make_job: Callable[[], HydraJob],
    in_flight: bool,
    sweep_dir: Path,
    objectives: dict[str, str],
    timeout_s: float | None = None,
) -> Pool:
    target = OmegaConf.select(config, "hydra.launcher._target_")
    cluster = SUBMITIT_CLUSTERS.get(str(target))
    if cluster is not None:  # cluster jobs with handles: collected as they end, cancelled on a stop
        container = OmegaConf.to_container(config.hydra.launcher, resolve=True)
        assert isinstance(container, dict)
        launcher = {str(k): v for k, v in container.items()}
        job = make_job()
        return SubmititPool(cluster, launcher, job, sweep_dir, objectives, not in_flight, timeout_s)
    return BatchPool(make_launcher(), sweep_dir, objectives)


def executor_for(cluster: str, launcher: dict[str, Any]) -> Any:
    """submitit's executor with the launcher config's values, as submitit names them."""
    import submitit

    init: dict[str, Any] = {"folder": launcher["submitit_folder"]}
    if launcher.get("max_num_timeout") is not None:
        init[f"{cluster}_max_num_timeout"] = launcher["max_num_timeout"]
    executor = submitit.AutoExecutor(cluster=cluster, **init)
    skip = {"_target_", *INIT_PARAMS}
    params = {
        k if k in SHARED_PARAMS else f"{cluster}_{k}": v
        for k, v in launcher.items()
        if k not in skip
    }
    executor.update_parameters(**params)
    return executor


class SubmititPool:
    """One submitit job per run, collected as soon as it ends; ``arrays``: each batch is one job
    array, collected when all of it has ended (hydra-submitit's own behaviour, cancellable)."""

    POLL_S = 1.0  # a finished job's result file is checked this often; the cluster's job states less often (submitit's cache)
    FORCE_S = 30.0  # a cancelled or killed job writes no result: ask the cluster for the states at least this often
    SETTLE_S = 15.0  # how long a stop waits for the jobs it cancelled to end
    # a job still running this long past trial_timeout_s did not stop itself (stuck outside
    # Python): the sweep cancels it
    TIMEOUT_GRACE_S = 30.0

    def __init__(
        self,
        cluster: str,
        launcher: dict[str, Any],
        job: HydraJob,
        sweep_dir: Path,
        objectives: dict[str, str],
        arrays: bool = False,
        timeout_s: float | None = None,
    ) -> None:
        self.cluster, self.job, self.sweep_dir, self.objectives = (
            cluster,
            job,
            sweep_dir,
            objectives,
        )
        self.arrays, self.timeout_s = arrays, timeout_s
        self.jobs: dict[tuple[int, int], tuple[Job, Any]] = {}  # (trial, step) -> job, handle
        self.running_since: dict[tuple[int, int], float] = {}
        self.executor = executor_for(cluster, launcher)
        self.last_forced = time.monotonic()

    def start(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        with _sigint_for_children(self.cluster == "local"):
            if self.arrays:
                overrides = [job.to_overrides() for job in jobs]
                numbers = [job.number for job in jobs]
                handles = self.executor.map_array(self.job, overrides, numbers)
            else:
                handles = [self.executor.submit(self.job, j.to_overrides(), j.number) for j in jobs]
        for job, handle in zip(jobs, handles, strict=True):
            log.info(f"trial {job.number}: submitted as job {handle.job_id}")
            self.jobs[job.number, job.step] = (job, handle)

    @property
    def in_flight(self) -> int:
        return len(self.jobs)

    def wait(self, on_poll: Callable[[], None]) -> list[tuple[Job, Outcome]]:
        """The runs that ended (at least one); ``on_poll`` runs between checks."""
        while True:
            force = time.monotonic() - self.last_forced > self.FORCE_S
            if force:
                self.last_forced = time.monotonic()
            ended = _ended([handle for _, handle in self.jobs.values()], force)
            done = [key for key, e in zip(list(self.jobs), ended, strict=True) if e]
            if done and not (self.arrays and len(done) < len(self.jobs)):
                return [(self.jobs[k][0], self._outcome(*self.jobs.pop(k))) for k in done]
            late = self._timed_out()
            if late:
                return late
            on_poll()
            time.sleep(self.POLL_S)

    def _timed_out(self) -> list[tuple[Job, Outcome]]:
        """Cancel the jobs that ran past the time limit (counted from when each started to run,
        not from its submission: time in the queue is not the trial's)."""
        if not self.timeout_s:
            return []
        now = time.monotonic()
        late = []
        for key, (job, handle) in list(self.jobs.items()):
            if key not in self.running_since and str(handle.state).startswith("RUNNING"):
                self.running_since[key] = now
            if now - self.running_since.get(key, now) > self.timeout_s + self.TIMEOUT_GRACE_S:
                handle.cancel(check=False)
                del self.jobs[key]
                reason = f"job {handle.job_id} ran past hydra.sweeper.jobs.trial_timeout_s={self.timeout_s:g}; cancelled"
                late.append((job, failed(reason, self.sweep_dir / job.subdir)))
        return late

    def _outcome(self, job: Job, handle: Any) -> Outcome:
        try:
            return job_outcome(handle.result(), self.objectives)
        except Exception as e:  # cancelled, killed, out of time or memory: the run dir says whether it finished anyway
            first = (str(e).strip().splitlines() or [""])[0]
            reason = f"job {handle.job_id}: {type(e).__name__}: {first}"[:500]
            return dir_outcome(self.sweep_dir / job.subdir, self.objectives, reason)

    def cancel(self) -> None:
        """Cancel every job still queued or running (``scancel`` on SLURM)."""
        handles = [handle for _, handle in self.jobs.values()]
        for handle in handles:
            try:
                handle.cancel(check=False)
            except Exception as e:  # noqa: BLE001 - the others are still cancelled
                log.warning(f"could not cancel job {handle.job_id}: {type(e).__name__}: {e}")
        if handles:
            numbers = sorted(number for number, _ in self.jobs)
            ids = ", ".join(str(h.job_id) for h in handles)
            log.warning(f"cancelled the jobs of trials {numbers}: {ids}")
            self._settle(handles)
        self.jobs.clear()

    def _settle(self, handles: list[Any]) -> None:
        """Wait a little for cancelled jobs to end, so none still runs (or prints) after the sweep's
        last line; a second Ctrl-C stops the wait. One forced state query per round serves all jobs."""
        deadline = time.monotonic() + self.SETTLE_S
        try:
            while handles and time.monotonic() < deadline:
                handles = [h for h, e in zip(handles, _ended(handles, True), strict=True) if not e]
                if handles:
                    time.sleep(self.POLL_S)
        except KeyboardInterrupt:
            pass


@contextmanager
def _sigint_for_children(local: bool) -> Iterator[None]:
    """submitit cancels a local job with SIGINT to the process it starts, and a process inherits
    SIGINT *ignored* from a sweep started that way (a shell's background job, nohup): its cancel
    would be lost and the job run on. While local jobs start, the sweep holds a Python handler
    that does nothing (it still ignores SIGINT), which a started program gets as the default."""
    if not local or threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _ended(handles: list[Any], force: bool) -> list[bool]:
    """Whether each job has ended; ``force``: ask the cluster now, once (the answer serves every job)."""
    return [h.done(force_check=force and i == 0) for i, h in enumerate(handles)]
