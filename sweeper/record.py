"""Every key the sweeper persists in a study, in one place, and the typed view it reads back.

Optuna keeps a trial's and a study's records as JSON user attrs; this module owns their names
(``TrialKey``, ``StudyKey``) so no other module spells one. Readers take ``TrialRecord.of(t)``
instead of ``t.user_attrs.get("...")``; writers use the constants. A run's status is
:class:`training.contract.RunStatus` (one vocabulary from the trainer to the report); a
design's state is :class:`DesignState`, stored under ``StudyKey.DESIGN``, its stop a
:class:`StopReason` with the sentence kept apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from training.contract import FAILED_RUNS, RunStatus


class TrialKey:
    """A trial's user attrs the sweeper writes (besides the summary's ``TRIAL_ATTRS``)."""

    STATUS = "status"  # a RunStatus
    REASON = "reason"  # the human sentence for a status other than completed
    LOST = "lost"  # failed because its sweep died, not its run: no verdict on its params
    JOB_DIR = "job_dir"
    DERIVED_PARAMS = "derived_params"  # a product param's derived setting (wd from lr x wd)
    OVERRIDES = "overrides"  # the run's overrides, for a replay
    REPLAY = "replay"  # the command that reruns it by hand
    RUN_SETTINGS = "run_settings"  # settings a scheduler adds to the run (a replicate's seed)
    RUN_STEP = "run_step"  # the scheduler step of the run it has in flight (a resume adopts it)
    RUNG_EPOCHS = "rung_epochs"  # rung step -> epochs of each rung run
    EPOCHS_TOTAL = "epochs_total"  # epochs over all its runs
    PAUSED_AT = "paused_at"  # ASHA: the rung it waits at and its value there
    HEARTBEAT = "heartbeat"  # last sign of life of its sweep (seconds since the epoch)
    WORKER = "worker"  # host:pid, for people and the dashboard
    WORKER_HOST = "worker_host"
    WORKER_PID = "worker_pid"
    RETRY_OF = "retry_of"  # the trial a retry reruns
    RESUME_SUBDIR = "resume_subdir"  # a retry continues in its zombie's run dir
    REPLICATE_SEED = "replicate_seed"  # the run seed a replicate trained with
    DESIGN_STAGE = "design_stage"  # the balance design's stage that enqueued it
    ENQUEUED_FROM = "enqueued_from"  # why a scheduler enqueued it (the range test's suggestion)
    PICK_OF = "pick_of"  # rungs: the trial stopped at a rung whose full run this is


class StudyKey:
    """A study's user attrs."""

    METRICS = "metrics"
    FIXED_SETTINGS = "fixed_settings"
    SEARCH_SPACE = "search_space"  # written last: its presence means "set up"
    BOUNDS = "bounds"  # the range test's bounds the space was built from
    DESIGN = "design"  # the balance design's state


@dataclass(frozen=True)
class TrialRecord:
    """What the sweeper recorded about one trial, typed; absent keys read as None."""

    status: RunStatus | None
    reason: str | None
    lost: bool
    job_dir: str | None
    params: dict[str, Any]  # the searched params with the derived ones (wd from lr x wd)
    rung_epochs: dict[str, Any] | None
    epochs: int | None  # the run's epochs (its summary's)
    replay: str

    @classmethod
    def of(cls, trial: Any) -> TrialRecord:
        a = trial.user_attrs
        status = a.get(TrialKey.STATUS)
        return cls(
            status=RunStatus(status) if status in RunStatus._value2member_map_ else None,
            reason=a.get(TrialKey.REASON),
            lost=bool(a.get(TrialKey.LOST)),
            job_dir=a.get(TrialKey.JOB_DIR),
            params={**trial.params, **(a.get(TrialKey.DERIVED_PARAMS) or {})},
            rung_epochs=a.get(TrialKey.RUNG_EPOCHS),
            epochs=a.get("epochs"),
            replay=a.get(TrialKey.REPLAY) or "",
        )

    @property
    def failed_run(self) -> bool:
        """Diverged or collapsed: its params are judged bad (a crash or a lost trial is not)."""
        return self.status in FAILED_RUNS

    @property
    def crashed(self) -> bool:
        """Failed by its own job (not by its sweep dying): counts against its settings."""
        return self.status == RunStatus.FAILED and not self.lost


class StopReason(StrEnum):
    """Why the balance design stopped: the code's flag; the sentence is ``DesignState.stop``."""

    DECIDED = "decided"  # the verdict decided at its confidence
    NO_LEVEL_TRAINED = "no_level_trained"  # every lr level diverged, collapsed or learned nothing
    BUDGET = "budget"  # the next stage needs more runs than max_runs
    NOTHING_LEFT = "nothing_left"  # no level or seed left to add


@dataclass(frozen=True)
class DesignState:
    """The balance design's state, stored whole under ``StudyKey.DESIGN`` before it enqueues a
    stage (a kill between the two loses nothing): where it is, what it runs, what it decided."""

    stage: str  # a balance Stage
    offsets: list[float]  # lr levels, decades from the range test's bound
    seeds: list[int]
    rounds: int = 0  # pilot rounds run
    wds: list[Any] | None = None  # the wd values a small budget thinned the grid to
    cells: list[list[Any]] = field(default_factory=list)  # the stage's (lr, wd, seed) cells
    prediction: str | None = None  # the verdict so far
    slope: float | None = None
    slope_ci: list[float] | None = None
    why: str | None = None  # why the last stage extended the grid, in words
    stop_reason: StopReason | None = None
    stop: str | None = None  # the stop in words, for people (the log, the report)

    def stopped(self, reason: StopReason, words: str, spent: bool = False) -> DesignState:
        """Stopped for ``reason``; ``spent``: after a grid, before the verdict decided."""
        if spent:
            words = f"run budget spent before the verdict decided: {words}"
        return replace(self, stop_reason=reason, stop=words)

    @property
    def undecided(self) -> bool:
        """Stopped without a verdict (its budget or its levels ran out)."""
        return self.stop_reason not in (None, StopReason.DECIDED)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, stored: dict[str, Any]) -> DesignState:
        known = {f.name for f in fields(cls)}
        state = cls(**{k: v for k, v in stored.items() if k in known})
        if state.stop and state.stop_reason is None:  # stored before the reason was a field
            decided = state.stop.startswith("decided")
            state = replace(state, stop_reason=StopReason.DECIDED if decided else StopReason.BUDGET)
        return replace(state, stop_reason=state.stop_reason and StopReason(state.stop_reason))
