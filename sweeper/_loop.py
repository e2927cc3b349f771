"""The ask/tell loop: keep ``n_jobs`` runs in flight, tell each trial its outcome, stop cleanly.

The loop asks its scheduler (:mod:`sweeper.schedulers`) for runs until ``n_jobs`` are in
flight, holding promoted runs first (as in ASHA), and hands the scheduler every outcome the
pool returns; the scheduler's typed decision says whether the trial is told, promoted to its
next run, or paused. The loop itself is the scheduler's :class:`~sweeper.schedulers.Trials`:
it adds the new trials the scheduler asks for, tells open ones and knows when nothing runs.
Diverged runs become PRUNED (worse than any completed trial for the sampler) with the reason
in user attrs; a raising job becomes FAIL; nothing is left RUNNING when the sweep ends, is
interrupted or a job dies, and no job of the sweep is left on a cluster. On resume, a trial a
dead sweep left RUNNING is adopted when its run finished (its ``summary.json`` is read) or,
with ``faults.retry_failed``, run again in its own job dir; others are failed.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweeper._errors import SweepError
from sweeper._job import Fixed, Job, Worker
from sweeper._jobs import INTERRUPTED
from sweeper._observers import Decided, Event, Finished, Observer
from sweeper._outcome import Outcome, dir_outcome
from sweeper._pool import Pool
from sweeper._progress import Progress
from sweeper._results import replay_command
from sweeper._search_space import SearchSpace
from sweeper._study import fail_zombies, tell, trial_handle, unowned_wait_s
from sweeper.record import TrialKey
from sweeper.schedulers import NewTrial, Pause, Promote, Scheduler, Tell
from sweeper.settings import SweeperSettings
from sweeper.trial_ref import TrialRef
from training.contract import FAILED_RUNS, RunStatus

log = logging.getLogger(__name__)


def decision_word(decision: Tell | Promote | Pause) -> str:
    """What the sweeper decided on a run, in the word its tracker's tag shows."""
    match decision:
        case Promote():
            return "promoted"
        case Pause():
            return "paused"
        case Tell(outcome=told) if told.state == TrialState.COMPLETE:
            return "kept"
        case Tell(outcome=told) if told.attrs.get(TrialKey.STATUS) in FAILED_RUNS:
            return str(told.attrs[TrialKey.STATUS])
        case Tell(outcome=told) if told.state == TrialState.PRUNED:
            return "pruned"
    return "failed"


HEARTBEAT_S = 60.0  # the sweep vouches for its open trials this often while their jobs queue
REAP_S = 30.0  # dead workers' RUNNING trials are looked for this often, not on every pass
# trials that count toward n_trials (and take a grid cell: Optuna's grid sampler counts a failed
# cell as visited)
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
TOLD = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass(frozen=True)
class LoopSettings:
    """The loop's own settings, from ``hydra.sweeper``: how many trials, how many at once, the
    time budget and the fault rules."""

    n_trials: int  # trials the study holds when the sweep ends (``Scheduler.budget``)
    n_jobs: int
    timeout_s: float | None = None  # jobs.timeout_s: the sweep's wall-clock budget
    max_failure_rate: float = 1.0
    stale_after_s: float = 900.0
    retry_failed: bool = False

    @classmethod
    def of(cls, s: SweeperSettings) -> LoopSettings:
        f = s.faults
        return cls(
            s.n_trials,
            s.n_jobs,
            s.jobs.timeout_s,
            f.max_failure_rate,
            f.stale_after_s,
            f.retry_failed,
        )


@dataclass
class Loop:
    study: optuna.Study
    storage: optuna.storages.BaseStorage
    space: SearchSpace
    scheduler: Scheduler
    pool: Pool
    settings: LoopSettings
    fixed: tuple[Fixed, ...]
    objectives: dict[str, str]
    storage_source: str  # as the jobs get it: ``${oc.env:VAR}`` stays a placeholder
    sweep_dir: Path = Path(".")
    open: dict[int, optuna.Trial] = field(default_factory=dict)  # asked, not told: failed on a stop
    ready: list[Job] = field(default_factory=list)  # promoted runs: they start first
    starting: list[Job] = field(default_factory=list)  # the runs about to start
    paused: set[int] = field(default_factory=set)  # trials the scheduler paused, not resumed
    finished: int = 0
    failed: int = 0
    heartbeat: float = 0.0
    reaped: float = 0.0
    quiet: tuple[str, ...] = ()  # every job's overrides that keep its lines off the console
    searchpath: tuple[str, ...] = ()  # the sweep's hydra.searchpath override: a replay needs it
    # who hears of decisions and told trials (the progress line, the trackers' tags); run()
    # adds the progress line
    observers: list[Observer] = field(default_factory=list)
    budget_said: bool = False  # the time budget's line is said once

    def run(self) -> None:
        progress = Progress(
            list(self.objectives.values()),
            self.scheduler.total(self),
            told_at_start=len(self.study.get_trials(deepcopy=False, states=TOLD)),
        )
        self.observers = [progress, *self.observers]
        budget = self.settings.timeout_s
        deadline = None if budget is None else time.monotonic() + float(budget)
        try:
            while True:
                self._reap()
                if deadline is not None and time.monotonic() >= deadline:
                    self._budget_spent(float(budget or 0))
                    if not self.pool.in_flight:
                        self._end_waiting(
                            f"the sweep's time budget (jobs.timeout_s={budget:g}) was spent"
                        )
                        self._reap_before_leaving()
                        return
                else:
                    free = self.settings.n_jobs - self.pool.in_flight
                    self.starting, self.ready = self.ready[:free], self.ready[free:]
                    self.starting += self._chosen(free - len(self.starting))
                    if not self.starting and self.idle():  # the scheduler's turn to act
                        for number, outcome in self.scheduler.ending(self).items():
                            self.tell(number, outcome)
                        self.starting = self._chosen(free)
                    self._start(self.starting)
                    self.starting = []
                    if not self.pool.in_flight:
                        self._reap_before_leaving()
                        return
                for job, outcome in self.pool.wait(
                    self._beat
                ):  # all told before a stop: no finished run is lost
                    self._told(job, outcome)
                if (
                    INTERRUPTED.is_set()
                ):  # a job turned the Ctrl-C into its own failure: stop anyway
                    raise KeyboardInterrupt
                self._check_failure_rate()
        except BaseException as e:  # Ctrl-C, a stop on failures, a crash: no trial of ours stays RUNNING, no job runs on
            self._stop(e)
            raise
        finally:
            for observer in self.observers:
                observer.close()

    def _budget_spent(self, budget: float) -> None:
        if not self.budget_said:
            self.budget_said = True
            log.info(
                f"time budget spent (hydra.sweeper.jobs.timeout_s={budget:g}): no new run starts; "
                f"{self.pool.in_flight} in flight finish, then the sweep answers from what it has"
            )

    def _end_waiting(self, reason: str) -> None:
        """Trials left open with no run in flight (promoted, or paused for a promotion) end
        pruned: nothing of theirs is lost (their rungs are in the study), none stays RUNNING."""
        self.ready = []
        for t in list(self.open.values()):
            self._finish(t, Outcome.ended(TrialState.PRUNED, RunStatus.PRUNED, reason))

    # -- the scheduler's view: the trial book (sweeper.schedulers.Trials) --

    def trials(self, states: Sequence[TrialState] | None = None) -> list[FrozenTrial]:
        return self.study.get_trials(
            deepcopy=False, states=None if states is None else tuple(states)
        )

    def enqueue(self, params: dict[str, Any], record: dict[str, Any]) -> None:
        self.study.enqueue_trial(params, user_attrs=record)

    def stored(self, key: str) -> Any:
        return self.study.user_attrs.get(key)

    def store(self, key: str, value: Any) -> None:
        self.study.set_user_attr(key, value)

    def planned(self) -> int:
        """Trials the study will hold when the sweep ends (the scheduler's ``budget``)."""
        return self.settings.n_trials

    def left(self) -> int:
        done = len(self.study.get_trials(deepcopy=False, states=COUNTED))
        return max(0, self.planned() - done)

    def idle(self) -> bool:
        return not self.pool.in_flight and not self.starting and not self.ready

    def tell(self, number: int, outcome: Outcome) -> None:
        self._finish(self.open[number], outcome)

    # -- adopting what a dead sweep left --

    def adopt(self, t: optuna.trial.FrozenTrial) -> bool:
        """Take over a trial a dead sweep left RUNNING: its run's result when the run finished,
        else (``faults.retry_failed``) the run again in its own dir. False: fail it instead."""
        step = t.user_attrs.get(TrialKey.RUN_STEP)
        if not isinstance(step, int):
            return False
        run = self.scheduler.run_at(self._template(t.number, t.params, t.user_attrs), step)
        job_dir = self.sweep_dir / run.subdir
        finished = (job_dir / "summary.json").is_file()
        if not finished and not self.settings.retry_failed:
            return False
        trial = trial_handle(self.study, self.storage, t.number)
        for key, value in {**Worker.this().as_attrs(), TrialKey.HEARTBEAT: time.time()}.items():
            trial.set_user_attr(key, value)
        self.open[t.number] = trial
        how = "its finished run's result" if finished else "its run again"
        log.info(f"trial {t.number}: adopted from a sweep that is gone ({how})")
        if finished:
            self._told(run, dir_outcome(job_dir, self.objectives, "lost"))
        else:
            self.ready.append(run)
        return True

    # -- runs --

    def _chosen(self, free: int) -> list[Job]:
        """The scheduler's choice, its new trials added to the study."""
        out = []
        for choice in self.scheduler.next_runs(free, self):
            if isinstance(choice, NewTrial):
                if choice.params is not None:
                    self.enqueue(choice.params, choice.record)
                job = self._first_job(self._ask())
                step = choice.step
                choice = self.scheduler.run_at(
                    job, self.scheduler.first_step(job.number) if step is None else step
                )
            out.append(choice)
        return out

    def _ask(self) -> optuna.Trial:
        trial = self.study.ask(
            fixed_distributions=self.space.distributions
        )  # tagged with this worker
        self.open[trial.number] = trial
        return trial

    def _template(self, number: int, params: dict, attrs: dict) -> Job:
        """A trial's full run as the task defines it; a scheduler makes its runs from it."""
        metric = next(iter(self.objectives))
        ref = TrialRef(number, self.study.study_name, self.storage_source, metric)
        # a retry continues in its zombie's dir
        subdir = str(attrs.get(TrialKey.RESUME_SUBDIR, number))
        settings = dict(attrs.get(TrialKey.RUN_SETTINGS) or {})
        return Job(
            ref, 0, subdir, self.space.job_params(params), self.fixed, settings, quiet=self.quiet
        )

    def _first_job(self, trial: optuna.Trial) -> Job:
        job = self._template(trial.number, trial.params, trial.user_attrs)
        derived = self.space.derived(trial.params)
        if derived:  # the job gets wd; the study keeps the product it searched
            trial.set_user_attr(TrialKey.DERIVED_PARAMS, derived)
        replay = job.replay()
        trial.set_user_attr(TrialKey.OVERRIDES, replay)
        trial.set_user_attr(TrialKey.REPLAY, replay_command([*self.searchpath, *replay]))  # by hand
        return job

    def _start(self, batch: list[Job]) -> None:
        for job in batch:  # which run a trial has in flight: a resume adopts it from here
            self.paused.discard(job.number)
            self.open[job.number].set_user_attr(TrialKey.RUN_STEP, job.step)
        self.pool.start(batch)

    def _told(self, job: Job, outcome: Outcome) -> None:
        """The scheduler decides what a finished run means for its trial."""
        if INTERRUPTED.is_set() and outcome.state == TrialState.FAIL:
            outcome.attrs.update(
                {
                    TrialKey.STATUS: RunStatus.INTERRUPTED,
                    TrialKey.REASON: "sweep interrupted (Ctrl-C)",
                }
            )
        trial = self.open[job.number]
        decision = self.scheduler.on_result(job, outcome, _Open(trial))
        self._emit(Decided(self.sweep_dir / job.subdir, decision_word(decision)))
        match decision:
            case Tell(outcome=told):
                self._finish(trial, told)
            case Promote(run=nxt):
                self.ready.append(nxt)
            case Pause(value=value):
                self.paused.add(job.number)
                trial.set_user_attr(TrialKey.PAUSED_AT, {"step": job.step, "value": value})

    def _finish(self, trial: optuna.Trial, outcome: Outcome) -> None:
        for k, v in outcome.attrs.items():
            if v is not None:  # each attr is its own storage write; absent reads as None anyway
                trial.set_user_attr(k, v)
        tell(self.study, trial, outcome.values, outcome.state)
        self.open.pop(trial.number, None)
        self.paused.discard(trial.number)
        self.finished += 1
        self.failed += outcome.state == TrialState.FAIL
        a = outcome.attrs
        status = str(a.get(TrialKey.STATUS) or outcome.state.name.lower())
        reason = a.get(TrialKey.REASON) if status != RunStatus.COMPLETED else None
        told = len(self.study.get_trials(deepcopy=False, states=TOLD))
        total, stage = self.scheduler.total(self), self.scheduler.stage()  # a design's grow
        self._emit(
            Finished(
                trial.number, status, outcome.values, reason, told, total, stage, len(self.paused)
            )
        )

    def _emit(self, event: Event) -> None:
        for observer in self.observers:
            observer.notify(event)

    def _check_failure_rate(self) -> None:
        """Judged once ``n_jobs`` trials have finished: one killed job of those in flight is not a rate of 1."""
        limit = self.settings.max_failure_rate
        rate = self.failed / self.finished if self.finished >= self.settings.n_jobs else 0.0
        if rate > limit:
            raise SweepError(
                f"{self.failed} of {self.finished} trials failed (rate {rate:.2f} > hydra.sweeper.faults.max_failure_rate={limit}); "
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
                t.set_user_attr(TrialKey.HEARTBEAT, now)

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
                self._finish(t, Outcome.ended(TrialState.FAIL, RunStatus.INTERRUPTED, reason))
            # a crash (or a Ctrl-C) inside ask(): this process's own RUNNING trial not in self.open
            status = RunStatus.INTERRUPTED if ctrl_c else RunStatus.FAILED
            stale, when = self.settings.stale_after_s, "when its sweep stopped"
            fail_zombies(self.study, self.storage, stale, False, when=when, status=status)
        except (
            Exception
        ) as fail_error:  # the storage itself may be what failed; a resume reaps them
            log.warning(
                f"could not mark trials {sorted(self.open)} failed ({type(fail_error).__name__}); a resume will"
            )


class _Open:
    """An open trial as ``Scheduler.on_result`` sees it (``sweeper.schedulers.OpenTrial``)."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial, self.number = trial, trial.number

    def record(self) -> dict[str, Any]:
        return self.trial.user_attrs

    def keep(self, key: str, value: Any) -> None:
        self.trial.set_user_attr(key, value)

    def report(self, value: float, step: int) -> None:
        with warnings.catch_warnings():  # an adopted run reports its step again: ignored
            warnings.simplefilter("ignore")
            self.trial.report(value, step)
        self.trial.set_user_attr(TrialKey.HEARTBEAT, time.time())

    def should_prune(self) -> bool:
        return self.trial.should_prune()

    def pruner(self) -> str:
        return type(self.trial.study.pruner).__name__
