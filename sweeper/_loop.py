"""The ask/tell loop: keep ``n_jobs`` runs in flight, tell each trial its outcome, stop cleanly.

Trials are asked until ``n_jobs`` runs are in flight; each becomes a :class:`Job` (the search
space says what it trains with, the budget which run comes first) and the pool runs it. Every
outcome the pool returns goes back to the budget, which either names the trial's next run
(promoted runs go first, as in ASHA) or lets the loop tell the study. Diverged runs become
PRUNED (worse than any completed trial for the sampler) with the reason in user attrs; a
raising job becomes FAIL; nothing is left RUNNING when the sweep ends, is interrupted or a job
dies, and no job of the sweep is left on a cluster.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState

from sweeper._budget import Budget
from sweeper._design import BalanceDesign
from sweeper._errors import SweepError
from sweeper._job import Fixed, Job
from sweeper._jobs import INTERRUPTED
from sweeper._outcome import Outcome
from sweeper._pool import Pool
from sweeper._progress import Progress
from sweeper._results import replay_command
from sweeper._search_space import SearchSpace
from sweeper._study import WorkerTagged, fail_zombies, tell, unowned_wait_s
from sweeper.settings import SweeperSettings
from sweeper.trial_ref import TrialRef

log = logging.getLogger(__name__)

HEARTBEAT_S = 60.0  # the sweep vouches for its open trials this often while their jobs queue
REAP_S = 30.0  # dead workers' RUNNING trials are looked for this often, not on every pass
# trials that count toward n_trials (and take a grid cell: Optuna's grid sampler counts a failed
# cell as visited)
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)


@dataclass
class Loop:
    study: optuna.Study
    storage: optuna.storages.BaseStorage
    space: SearchSpace
    budget: Budget
    pool: Pool
    settings: SweeperSettings
    fixed: tuple[Fixed, ...]
    objectives: dict[str, str]
    storage_source: str  # as the jobs get it: ``${oc.env:VAR}`` stays a placeholder
    open: dict[int, optuna.Trial] = field(default_factory=dict)  # asked, not told: failed on a stop
    finished: int = 0
    failed: int = 0
    heartbeat: float = 0.0
    reaped: float = 0.0
    design: BalanceDesign | None = None  # enqueues every trial, stage by stage
    quiet: tuple[str, ...] = ()  # every job's overrides that keep its lines off the console
    searchpath: tuple[str, ...] = ()  # the sweep's hydra.searchpath override: a replay needs it
    progress: Progress | None = None

    def run(self) -> None:
        promoted: list[Job] = []
        self.progress = Progress(list(self.objectives.values()), self._total())
        try:
            while True:
                self._reap()
                free = self.settings.n_jobs - self.pool.in_flight
                batch, promoted = promoted[:free], promoted[free:]  # survivors first, as in ASHA
                batch += [self._first_job(self._ask()) for _ in range(self._new(free - len(batch)))]
                self.pool.start(batch)
                if not self.pool.in_flight:
                    self._reap_before_leaving()
                    return
                for job, outcome in self.pool.wait(
                    self._beat
                ):  # all told before a stop: no finished run is lost
                    promoted += self._told(job, outcome)
                if (
                    INTERRUPTED.is_set()
                ):  # a job turned the Ctrl-C into its own failure: stop anyway
                    raise KeyboardInterrupt
                self._check_failure_rate()
        except BaseException as e:  # Ctrl-C, a stop on failures, a crash: no trial of ours stays RUNNING, no job runs on
            self._stop(e)
            raise
        finally:
            self.progress.close()

    def _total(self) -> int | None:
        """Trials this sweep will have told when it ends (None: an adaptive design decides)."""
        if self.design is not None:
            return None
        total = self.settings.n_trials
        return min(total, self.space.grid_size()) if _is_grid(self.study) else total

    def _new(self, free: int) -> int:
        """How many trials to ask now; a grid stops at its size (more asks while its last cells
        run would repeat one)."""
        if self.design is not None:
            idle = not self.pool.in_flight and not self.open
            return max(0, min(free, self.design.ready(self.study, idle)))
        done = len(self.study.get_trials(deepcopy=False, states=COUNTED))
        left = self.settings.n_trials - done
        if _is_grid(self.study):
            left = min(left, self.space.grid_size() - done)
        return max(0, min(free, left))

    def _ask(self) -> optuna.Trial:
        trial = self.study.ask(
            fixed_distributions=self.space.distributions
        )  # tagged with this worker
        self.open[trial.number] = trial
        return trial

    def _first_job(self, trial: optuna.Trial) -> Job:
        metric = next(iter(self.objectives))
        ref = TrialRef(trial.number, self.study.study_name, self.storage_source, metric)
        subdir = str(
            trial.user_attrs.get("resume_subdir", trial.number)
        )  # a retry continues in its zombie's dir
        job = Job(ref, 0, subdir, self.space.job_params(trial.params), self.fixed, quiet=self.quiet)
        derived = self.space.derived(trial.params)
        if derived:  # the job gets wd; the study keeps the product it searched
            trial.set_user_attr("derived_params", derived)
        replay = job.replay()
        trial.set_user_attr("overrides", replay)
        trial.set_user_attr("replay", replay_command([*self.searchpath, *replay]))  # by hand
        return self.budget.first(job)

    def _told(self, job: Job, outcome: Outcome) -> list[Job]:
        """Tell a finished run's trial, or return its next run."""
        if INTERRUPTED.is_set() and outcome.state == TrialState.FAIL:
            outcome.attrs.update(status="interrupted", reason="sweep interrupted (Ctrl-C)")
        trial = self.open[job.number]
        nxt = self.budget.on_result(job, outcome, trial)
        if nxt is not None:
            return [nxt]
        self._finish(trial, outcome)
        return []

    def _finish(self, trial: optuna.Trial, outcome: Outcome) -> None:
        for k, v in outcome.attrs.items():
            if v is not None:  # each attr is its own storage write; absent reads as None anyway
                trial.set_user_attr(k, v)
        tell(self.study, trial, outcome.values, outcome.state)
        self.open.pop(trial.number, None)
        self.finished += 1
        self.failed += outcome.state == TrialState.FAIL
        a = outcome.attrs
        status = str(a.get("status") or outcome.state.name.lower())
        reason = a.get("reason") if status != "completed" else None
        if self.progress is not None:
            self.progress.finished(trial.number, status, outcome.values, reason)

    def _check_failure_rate(self) -> None:
        """Judged once ``n_jobs`` trials have finished: one killed job of those in flight is not a rate of 1."""
        limit = self.settings.max_failure_rate
        rate = self.failed / self.finished if self.finished >= self.settings.n_jobs else 0.0
        if rate > limit:
            raise SweepError(
                f"{self.failed} of {self.finished} trials failed (rate {rate:.2f} > hydra.sweeper.max_failure_rate={limit}); "
                f"see the trials' 'reason' user attrs in study {self.study.study_name!r}."
            )

    def _reap(self, force: bool = False) -> None:
        """A worker on this host that died mid-trial: fail its trial now, not at the next resume."""
        if not force and self.reaped and time.monotonic() - self.reaped < REAP_S:
            return
        self.reaped = time.monotonic()
        stale = self.settings.stale_after_s
        when = "during the sweep of another worker"
        fail_zombies(self.study, self.storage, stale, False, mine=set(self.open), when=when)

    def _reap_before_leaving(self) -> None:
        """A dead worker's last trial is not left for a resume; one that died inside ask() left a
        trial that can be told from a live sweep's only after ``UNOWNED_AFTER_S``: wait for it."""
        wait = unowned_wait_s(self.study)
        if wait > 0:
            log.info(
                f"a trial without a worker (its sweep died inside ask()): failing it in {wait:.0f} s"
            )
            time.sleep(wait + 0.5)
        self._reap(force=True)

    def _beat(self) -> None:
        """A job queued on a cluster shows no sign of life itself: the live sweep vouches for its
        trials, so a sweep on another host does not fail them as stale (``stale_after_s``)."""
        now = time.time()
        if now - self.heartbeat >= HEARTBEAT_S:
            self.heartbeat = now
            for t in self.open.values():
                t.set_user_attr("heartbeat", now)

    def _stop(self, e: BaseException) -> None:
        ctrl_c = isinstance(e, KeyboardInterrupt)
        reason = (
            "sweep interrupted (Ctrl-C)"
            if ctrl_c
            else f"sweep stopped: {type(e).__name__}: {e}"[:500]
        )
        try:
            self.pool.cancel()
            for t in list(self.open.values()):
                self._finish(
                    t, Outcome(TrialState.FAIL, None, {"status": "interrupted", "reason": reason})
                )
            # a crash (or a Ctrl-C) inside ask(): this process's own RUNNING trial not in self.open
            status = "interrupted" if ctrl_c else "failed"
            stale, when = self.settings.stale_after_s, "when its sweep stopped"
            fail_zombies(self.study, self.storage, stale, False, when=when, status=status)
        except (
            Exception
        ) as fail_error:  # the storage itself may be what failed; a resume reaps them
            log.warning(
                f"could not mark trials {sorted(self.open)} failed ({type(fail_error).__name__}); a resume will"
            )


def _is_grid(study: optuna.Study) -> bool:
    sampler = study.sampler.inner if isinstance(study.sampler, WorkerTagged) else study.sampler
    return isinstance(sampler, optuna.samplers.GridSampler)
