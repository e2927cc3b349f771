"""Schedulers: what runs next and what a finished run means (``hydra.sweeper.scheduler``).

One interface, in the spirit of Ray Tune's ``TrialScheduler`` and Optuna's pruners. The loop
(:mod:`sweeper._loop`) keeps ``n_jobs`` runs in flight by asking the scheduler for runs and hands
it every finished run's outcome; it never branches on which scheduler runs. A scheduler answers
with a typed :data:`Decision`:

- :class:`Tell` - the trial is over: tell the study this outcome;
- :class:`Promote` - run this next run of the trial first (a longer rung);
- :class:`Pause` - the trial waits, open; a later :meth:`Scheduler.next_runs` may resume it
  (asynchronous promotion) or the scheduler ends it when nothing else runs
  (:meth:`Scheduler.ending`).

A choice has no side effects: :meth:`Scheduler.next_runs` returns runs of open trials and
:class:`NewTrial` requests, and the loop adds the new trials; a finished run's trial is seen as
an :class:`OpenTrial` (its record, a rung's report, the pruner's verdict), never as Optuna's.

Each scheduler is one module here and one YAML file in the plugin's
``hydra/sweeper/supersweep_scheduler`` group carrying its ``_target_`` and its own settings;
it is built with :func:`make_scheduler` from that node and the sweep's :class:`SweepContext`,
refusing in one line what it cannot run before anything is stored. Its state lives in the study
(trial and study user attrs, written through the trial book :class:`Trials`, never the study
itself), so a resumed sweep restores it in :meth:`Scheduler.restore`. A new study's first
trials are the scheduler's (:meth:`Scheduler.begin`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import optuna
from omegaconf import DictConfig
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from sweeper._errors import SweepError
from sweeper._job import Job
from sweeper._keys import SweepKeys
from sweeper._outcome import Outcome
from sweeper._seeding import Bounds
from sweeper.record import TrialKey

__all__ = [
    "Decision",
    "NewTrial",
    "NoSampler",
    "OpenTrial",
    "Pause",
    "Promote",
    "Scheduler",
    "SweepContext",
    "Tell",
    "Trials",
    "make_scheduler",
]

NODE = "hydra.sweeper.scheduler"


@dataclass(frozen=True)
class Tell:
    """The trial is over: the study is told ``outcome``."""

    outcome: Outcome


@dataclass(frozen=True)
class Promote:
    """The trial's next run, launched before any new trial."""

    run: Job


@dataclass(frozen=True)
class Pause:
    """The trial waits, open, at its last run's result; the scheduler resumes or tells it later."""

    value: float


Decision = Tell | Promote | Pause


@dataclass(frozen=True)
class NewTrial:
    """A new trial to start, asked of the study by the loop. ``params`` None: the study proposes
    it (a trial enqueued earlier first, else the sampler); otherwise these params, enqueued with
    ``record`` as its user attrs. ``step``: the run it starts with (None: the scheduler's
    ``first_step`` for the number it gets)."""

    params: dict[str, Any] | None = None
    record: dict[str, Any] = field(default_factory=dict)
    step: int | None = None


Choice = Job | NewTrial  # what next_runs returns: a run of an open trial, or a new trial


class OpenTrial(Protocol):
    """A trial with a finished run, as ``on_result`` sees it: its record, a short run's report
    and the study's pruner on it."""

    number: int

    def record(self) -> dict[str, Any]:
        """Its user attrs so far (``sweeper.record.TrialKey``)."""
        ...

    def keep(self, key: str, value: Any) -> None:
        """Store ``value`` in its record under ``key``."""
        ...

    def report(self, value: float, step: int) -> None:
        """A short run's value at ``step`` (its budget): what pruners and ASHA rank."""
        ...

    def should_prune(self) -> bool:
        """The study's pruner's verdict on its reports so far."""
        ...

    def pruner(self) -> str:
        """The study's pruner's name, for the reason a pruned trial carries."""
        ...


@dataclass(frozen=True)
class SweepContext:
    """What a scheduler may read about the sweep: known before anything is stored."""

    keys: SweepKeys
    task_cfg: DictConfig
    distributions: dict[str, BaseDistribution]  # as the user gave them (before any seeding)
    objectives: dict[str, str]
    pruner: optuna.pruners.BasePruner
    sweep_dir: Path
    lr_levels: tuple[float, ...] = ()
    range_test: bool = False  # bounds will come from a range test


class Trials(Protocol):
    """The trial book: the loop's side, as a scheduler sees it. A scheduler reads the study's
    trials and records through it and adds trials with ``enqueue``; it never holds the study."""

    def trials(self, states: Sequence[TrialState] | None = None) -> list[FrozenTrial]:
        """The study's trials (all, or those in ``states``), read-only."""
        ...

    def enqueue(self, params: dict[str, Any], record: dict[str, Any]) -> None:
        """A trial with these params, asked before any the sampler draws; ``record``: its user
        attrs (``sweeper.record.TrialKey``), stored with it."""
        ...

    def stored(self, key: str) -> Any:
        """The study's record under ``key`` (``sweeper.record.StudyKey``), None if absent."""
        ...

    def store(self, key: str, value: Any) -> None:
        """Keep ``value`` as the study's record under ``key`` (JSON)."""
        ...

    def planned(self) -> int:
        """Trials the study will hold when the sweep ends (``Scheduler.budget``)."""
        ...

    def left(self) -> int:
        """New trials the study may still get within ``planned``."""
        ...

    def idle(self) -> bool:
        """Nothing of this sweep runs or waits to start (paused trials may be open)."""
        ...


class NoSampler(optuna.samplers.RandomSampler):
    """``hydra/sweeper/supersweep_sampler=none``: no sampler proposes trials; a scheduler that
    enqueues every trial itself (``owns_sampling``: the balance design) runs with it. Optuna
    needs a sampler object; this one is never asked for a param a trial was not enqueued with."""


class Scheduler:
    """The base every scheduler extends; the defaults are those of one full run per trial. A
    scheduler is built as ``cls(ctx, **its settings)`` and refuses there what it cannot run."""

    # True: every trial is enqueued by the scheduler; the sweep runs with sampler=none and the
    # scheduler's own budget (n_trials does not apply)
    owns_sampling = False

    def searched(
        self, distributions: dict[str, BaseDistribution], bounds: Bounds | None
    ) -> dict[str, BaseDistribution]:
        """The distributions the study stores (a design that moves lr levels widens them)."""
        return distributions

    def budget(self, n_trials: int, grid_size: int | None) -> int:
        """Trials the study holds when the sweep ends: ``n_trials``, or a grid sampler's size
        when that is smaller (``grid_size``: None for any other sampler); asking more while a
        grid's last cells run would repeat one."""
        return n_trials if grid_size is None else min(n_trials, grid_size)

    def restore(self, trials: Trials, bounds: Bounds | None) -> None:
        """Take up the state stored with the study (a new study: nothing)."""

    def begin(self, trials: Trials, first: dict[str, Any] | None) -> None:
        """A new study: enqueue its first trials. ``first``: the range test's seeded setting
        (its suggested max_lr, the prior's wd), None without one; the default trains it first."""
        if first is not None:
            trials.enqueue(first, {TrialKey.ENQUEUED_FROM: "range test suggestion"})

    def run_at(self, template: Job, step: int) -> Job:
        """Run ``step`` of a trial whose template is ``template`` (resuming an adopted trial)."""
        return template

    def first_step(self, number: int) -> int:
        """The run a new trial numbered ``number`` starts with."""
        return 0

    def next_runs(self, free: int, trials: Trials) -> list[Choice]:
        """Up to ``free`` runs to start now (promoted runs the loop holds go before these). A
        choice only: it reads the book and changes nothing; the loop adds the new trials."""
        return [NewTrial() for _ in range(min(free, trials.left()))]

    def on_result(self, run: Job, outcome: Outcome, trial: OpenTrial) -> Decision:
        return Tell(outcome)

    def ending(self, trials: Trials) -> dict[int, Outcome]:
        """Nothing runs and ``next_runs`` chose nothing: the scheduler's turn to act. It ends
        open trials (returned: trial number -> outcome, told by the loop; ASHA's paused ones)
        or adds trials through the book (a design's next stage); the loop then asks
        ``next_runs`` once more."""
        return {}

    def total(self, trials: Trials) -> int | None:
        """Trials the study will hold when the sweep (or its current stage) ends, for the
        progress line (None: unknown)."""
        return trials.planned()

    def stage(self) -> str:
        """What the scheduler is doing now, for the progress line ("" for none)."""
        return ""


def make_scheduler(node: Any, ctx: SweepContext) -> Scheduler:
    """The scheduler ``hydra.sweeper.scheduler`` names (Hydra's partial of a ``_target_`` with
    its settings, or that node as a dict), built for this sweep; a setting it does not take is
    one line naming what it does take."""
    from hydra.utils import get_class

    if isinstance(node, functools.partial):
        cls, conf = node.func, dict(node.keywords)
    else:
        conf = {k: v for k, v in dict(node or {}).items() if k != "_partial_"}
        target = conf.pop("_target_", "sweeper.schedulers.full.FullRuns")
        try:
            cls = get_class(str(target))
        except Exception:
            raise SweepError(f"{NODE}._target_={target!r} is not an importable class.") from None
    if not (isinstance(cls, type) and issubclass(cls, Scheduler)):
        raise SweepError(f"{NODE}._target_={cls!r} is not a sweeper.schedulers.Scheduler.")
    params = [p for p in inspect.signature(cls).parameters if p != "ctx"]
    unknown = sorted(set(conf) - set(params))
    if unknown:
        allowed = ", ".join(params) or "no settings"
        raise SweepError(
            f"{NODE}.{unknown[0]} is not a setting of {cls.__name__}; allowed: {allowed}."
        )
    return cls(ctx, **conf)  # type: ignore[call-arg]  # every scheduler takes the sweep first
