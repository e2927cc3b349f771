"""How the sweep's jobs run: a launcher batch, or submitit jobs kept in flight.

Any Hydra launcher runs a batch and returns when its slowest job ends (:class:`BatchPool`).
hydra-submitit's launchers (``hydra/launcher=submitit_slurm | submitit_local``) are driven
through submitit's job handles instead (:class:`SubmititPool`): ``n_jobs`` trials stay in
flight and the next one is asked as soon as any ends (or, with ``in_flight=false``, a job
array per batch that waits for all of it), and :meth:`cancel` (Ctrl-C, a failure-rate stop)
cancels the jobs still queued or running on the cluster.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from hydra.core.singleton import Singleton
from hydra.plugins.launcher import Launcher

from sweeper._outcome import Outcome, dir_outcome, job_outcome

log = logging.getLogger(__name__)

Key = tuple[int, int]  # (trial number, rung): what a job runs


class Pool(Protocol):
    def start(self, jobs: list[tuple[Key, list[str]]]) -> None: ...

    @property
    def in_flight(self) -> int: ...

    def wait(self, on_poll: Callable[[], None]) -> list[tuple[Key, Outcome]]: ...

    def cancel(self) -> None: ...


def subdir(overrides: list[str]) -> str:
    return next(
        o.split("=", 1)[1] for o in reversed(overrides) if o.startswith("hydra.sweep.subdir=")
    )


class BatchPool:
    """Any Hydra launcher: ``wait`` launches what was started as one batch and returns every job."""

    def __init__(self, launcher: Launcher, sweep_dir: Path, objectives: dict[str, str]) -> None:
        self.launcher, self.sweep_dir, self.objectives = launcher, sweep_dir, objectives
        self.pending: list[tuple[Key, list[str]]] = []

    def start(self, jobs: list[tuple[Key, list[str]]]) -> None:
        self.pending += jobs

    @property
    def in_flight(self) -> int:
        return len(self.pending)

    def wait(self, on_poll: Callable[[], None]) -> list[tuple[Key, Outcome]]:
        """Blocks in the launcher until the batch ends (``on_poll`` is not called)."""
        batch, self.pending = self.pending, []
        overrides = [o for _, o in batch]
        try:
            outcomes = [
                job_outcome(ret, self.objectives)
                for ret in self.launcher.launch(overrides, initial_job_idx=batch[0][0][0])
            ]
        except Exception as e:  # the launcher lost the batch (a job process was killed): each job's own run dir says how it ended
            reason = f"launcher: {type(e).__name__}: {e}"[:500]
            log.error(
                f"the launcher lost the batch of trials {[k[0] for k, _ in batch]} ({type(e).__name__}); reading each job's run dir"
            )
            outcomes = [
                dir_outcome(self.sweep_dir / subdir(o), self.objectives, reason) for o in overrides
            ]
        return [(k, outcome) for (k, _), outcome in zip(batch, outcomes, strict=True)]

    def cancel(self) -> None:
        """Nothing outlives a batch: its local processes end with the launcher's call."""


def is_submitit(launcher: Launcher) -> bool:
    """hydra-submitit's launchers (an optional plugin: recognised without importing it)."""
    return any(c.__name__ == "BaseSubmititLauncher" for c in type(launcher).__mro__) and hasattr(
        launcher, "params"
    )


def make_pool(
    launcher: Launcher, in_flight: bool, sweep_dir: Path, objectives: dict[str, str]
) -> Pool:
    if is_submitit(
        launcher
    ):  # cluster jobs with handles: collected as they end, cancelled when the sweep stops
        return SubmititPool(launcher, sweep_dir, objectives, arrays=not in_flight)
    return BatchPool(launcher, sweep_dir, objectives)


class SubmititPool:
    """One submitit job per run, collected as soon as it ends; ``arrays``: each batch is one job
    array, collected when all of it has ended (hydra-submitit's own launch, cancellable)."""

    POLL_S = 1.0  # a finished job's result file is checked this often; the cluster's job states less often (submitit's cache)
    FORCE_S = 30.0  # a cancelled or killed job writes no result: ask the cluster for the states at least this often
    SETTLE_S = 15.0  # how long a stop waits for the jobs it cancelled to end

    def __init__(
        self, launcher: Any, sweep_dir: Path, objectives: dict[str, str], arrays: bool = False
    ) -> None:
        import submitit

        self.launcher, self.sweep_dir, self.objectives, self.arrays = (
            launcher,
            sweep_dir,
            objectives,
            arrays,
        )
        self.jobs: dict[Key, tuple[Any, list[str]]] = {}
        self.executor = submitit.AutoExecutor(cluster=launcher._EXECUTOR, **_init_params(launcher))
        self.executor.update_parameters(**_job_params(launcher))
        self.last_forced = time.monotonic()

    def start(self, jobs: list[tuple[Key, list[str]]]) -> None:
        if not jobs:
            return
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        # the launcher's own job function and arguments: what hydra-submitit's launch() submits
        calls = [
            (list(o), "hydra.sweep.dir", k[0], f"job_id_for_{k[0]}", Singleton.get_state())
            for k, o in jobs
        ]
        if self.arrays:
            submitted = self.executor.map_array(self.launcher, *zip(*calls, strict=True))
        else:
            submitted = [self.executor.submit(self.launcher, *call) for call in calls]
        for (key, overrides), job in zip(jobs, submitted, strict=True):
            log.info(f"trial {key[0]}: submitted as job {job.job_id}")
            self.jobs[key] = (job, overrides)

    @property
    def in_flight(self) -> int:
        return len(self.jobs)

    def wait(self, on_poll: Callable[[], None]) -> list[tuple[Key, Outcome]]:
        """The runs that ended (at least one); ``on_poll`` runs between checks."""
        while True:
            force = time.monotonic() - self.last_forced > self.FORCE_S
            if force:
                self.last_forced = time.monotonic()
            ended = _ended([job for job, _ in self.jobs.values()], force)
            done = [k for k, e in zip(list(self.jobs), ended, strict=True) if e]
            if done and not (self.arrays and len(done) < len(self.jobs)):
                return [(k, self._outcome(*self.jobs.pop(k))) for k in done]
            on_poll()
            time.sleep(self.POLL_S)

    def _outcome(self, job: Any, overrides: list[str]) -> Outcome:
        try:
            return job_outcome(job.result(), self.objectives)
        except Exception as e:  # cancelled, killed, out of time or memory: the run dir says whether it finished anyway
            reason = f"job {job.job_id}: {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[
                :500
            ]
            return dir_outcome(self.sweep_dir / subdir(overrides), self.objectives, reason)

    def cancel(self) -> None:
        """Cancel every job still queued or running (``scancel`` on SLURM)."""
        keys = list(self.jobs)
        for job, _ in self.jobs.values():
            try:
                job.cancel(check=False)
            except Exception as e:  # noqa: BLE001 - the others are still cancelled
                log.warning(f"could not cancel job {job.job_id}: {type(e).__name__}: {e}")
        if keys:
            log.warning(
                f"cancelled the jobs of trials {sorted(k[0] for k in keys)}: {', '.join(str(j.job_id) for j, _ in self.jobs.values())}"
            )
            self._settle([job for job, _ in self.jobs.values()])
        self.jobs.clear()

    def _settle(self, jobs: list[Any]) -> None:
        """Wait a little for cancelled jobs to end, so none still runs (or prints) after the sweep's
        last line; a second Ctrl-C stops the wait. One forced state query per round serves all jobs."""
        deadline = time.monotonic() + self.SETTLE_S
        try:
            while jobs and time.monotonic() < deadline:
                jobs = [j for j, e in zip(jobs, _ended(jobs, force=True), strict=True) if not e]
                if jobs:
                    time.sleep(self.POLL_S)
        except KeyboardInterrupt:
            pass


def _ended(jobs: list[Any], force: bool) -> list[bool]:
    """Whether each job has ended; ``force``: ask the cluster now, once (the answer serves every job)."""
    return [j.done(force_check=force and i == 0) for i, j in enumerate(jobs)]


# hydra-submitit's launch() builds its executor from the launcher's params this way; its launcher
# offers no call that submits one job and returns the handle, which in-flight jobs need.
def _init_params(launcher: Any) -> dict[str, Any]:
    p = launcher.params
    init = {"folder": p["submitit_folder"]}
    if "max_num_timeout" in p:
        init[f"{launcher._EXECUTOR}_max_num_timeout"] = p["max_num_timeout"]
    return init


def _job_params(launcher: Any) -> dict[str, Any]:
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    shared = set(OmegaConf.structured(BaseQueueConf).keys())
    return {
        k if k in shared else f"{launcher._EXECUTOR}_{k}": v
        for k, v in launcher.params.items()
        if k not in ("submitit_folder", "max_num_timeout")
    }
