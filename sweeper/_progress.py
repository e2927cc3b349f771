"""What a person watching a sweep sees: one line per finished trial, a live bar on a terminal,
and at the end the best value(s), their params, the replay command and the report command.

    trial 7/20 completed 0.955 | best 0.955 (#7) | 1m12s elapsed, ~2m left

The jobs' own per-epoch (info) lines and the launchers' "Launching ..." lines (with the
sweeper's internal ``+trial.*`` overrides) go to each job's log file only, unless
``hydra.sweeper.jobs.verbose=true``; a job's warnings and errors still reach the console.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from sweeper._observers import Event, Finished, Observer
from sweeper.record import TrialKey

log = logging.getLogger(__name__)
RECENT = 5  # the ETA's pace: the mean time between the last this many finishes

# the launchers that log every job's overrides as they start it (module names, read as strings)
LAUNCHER_LOGGERS = (
    "hydra._internal.core_plugins.basic_launcher",
    "hydra_plugins.hydra_joblib_launcher",
    "hydra_plugins.hydra_submitit_launcher",
)


def quiet_launchers() -> None:
    for name in LAUNCHER_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def quiet_job_overrides(task_hydra: Any) -> list[str]:
    """The override that keeps a job's info lines (per epoch) in its log file and lets its
    warnings and errors (a preemption, a bad value) still reach the console: only where the
    task's job logging has Hydra's ``console`` handler."""
    try:
        handlers = dict(task_hydra.job_logging.handlers)
    except (AttributeError, KeyError, TypeError, ValueError):
        return []
    return ["++hydra.job_logging.handlers.console.level=WARNING"] if "console" in handlers else []


def _duration(s: float) -> str:
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


def _value(values: list[float] | None) -> str:
    return "/".join(f"{v:.4g}" for v in values) if values else ""


@dataclass
class Progress(Observer):
    directions: list[str]  # one per objective
    total: int | None  # trials the sweep will run (None: not known, e.g. an adaptive design)
    stage: str = ""  # what the scheduler is doing (a design's stage)
    paused: int = 0  # trials waiting for a promotion (ASHA): told later, counted apart
    told_at_start: int = 0  # the study's finished trials when this process started
    start: float = field(default_factory=time.monotonic)
    done: int = 0
    best: tuple[float, int] | None = None  # single objective: (value, trial number)
    bar: Any = None
    redirect: Any = None
    # (when, the study's told trials) at the last finishes: the ETA's recent pace
    recent: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=RECENT + 1))

    def __post_init__(self) -> None:
        if sys.stderr.isatty():
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self.bar = tqdm(total=self.total, unit="trial", dynamic_ncols=True, leave=False)
            # log lines go above the bar, not into its row
            self.redirect = logging_redirect_tqdm()
            self.redirect.__enter__()

    def notify(self, event: Event) -> None:
        """An observer of the loop: each told trial is a line (a design's total and stage move
        stage by stage)."""
        if isinstance(event, Finished):
            self.total, self.stage, self.paused = event.total, event.stage, event.paused
            self.finished(event.number, event.status, event.values, event.reason, event.told)

    def pace(self, since: int) -> float:
        """Seconds per trial (every worker's): over the last ``RECENT`` finishes once there
        are a few (the pace now: a design's later stages, a box that got loaded), else over
        the whole run so far."""
        (t0, k0), (t1, k1) = self.recent[0], self.recent[-1]
        if len(self.recent) >= 3 and k1 > k0:
            return (t1 - t0) / (k1 - k0)
        return (time.monotonic() - self.start) / since

    def finished(
        self,
        number: int,
        status: str,
        values: list[float] | None,
        reason: str | None = None,
        told: int | None = None,
    ) -> str:
        """``told``: the study's finished trials, every worker's (default: this process's)."""
        self.done += 1
        k = self.done if told is None else told
        self.recent.append((time.monotonic(), k))
        if values and len(self.directions) == 1:
            sign = 1 if self.directions[0] == "maximize" else -1
            if self.best is None or sign * values[0] > sign * self.best[0]:
                self.best = (values[0], number)
        elapsed = time.monotonic() - self.start
        count = f"{k}/{self.total}" if self.total else ""
        waiting = f"{self.paused} paused" if self.paused > 0 else ""
        where = ", ".join(x for x in (count, waiting, self.stage) if x)
        parts = [
            f"trial {number}{f' ({where})' if where else ''} {status} {_value(values)}".rstrip()
        ]
        if self.best is not None:
            parts.append(f"best {self.best[0]:.4g} (#{self.best[1]})")
        timing = f"{_duration(elapsed)} elapsed"
        # at the study's pace since this process started: every worker's trials count
        since = max(1, k - self.told_at_start) if told is not None else self.done
        if self.total and k < self.total:
            left = _duration(self.pace(since) * (self.total - k))
            timing += f", ~{left} left{' in this stage' if self.stage else ''}"
        parts.append(timing)
        line = " | ".join(parts)
        if self.bar is not None:
            self.bar.total = self.total  # a design's total grows stage by stage
            self.bar.update(1)
            self.bar.write(line, file=sys.stderr)
        else:
            log.info(line)
        return line

    def close(self) -> None:
        if self.redirect is not None:
            self.redirect.__exit__(None, None, None)
        if self.bar is not None:
            self.bar.close()


def final_lines(study: optuna.Study, objectives: dict[str, str], report: str) -> list[str]:
    """The end of every sweep: counts, the best trial(s) with params and replay, the report."""
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        status = t.user_attrs.get(TrialKey.STATUS) or t.state.name.lower()
        counts[status] = counts.get(status, 0) + 1
    lines = [
        f"sweep done: {len(trials)} trials ("
        + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        + ")"
    ]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        lines.append("no trial completed: nothing to pick")
    elif len(objectives) == 1:
        best = study.best_trial
        lines.append(
            f"best single run: {next(iter(objectives))} = {best.value:.4g} (trial {best.number}): {_params(best)}"
        )
        lines.append(f"  replay: {best.user_attrs.get('replay', '')}")
    else:
        names = " / ".join(objectives)
        lines.append(f"Pareto front ({names}): {len(study.best_trials)} trials")
        for t in study.best_trials[:5]:
            lines.append(f"  trial {t.number}: {_value(list(t.values))} {_params(t)}")
            lines.append(f"    replay: {t.user_attrs.get('replay', '')}")
    lines.append(f"report: {report}")
    return lines


def _params(t: optuna.trial.FrozenTrial) -> str:
    shown = {**t.params, **(t.user_attrs.get(TrialKey.DERIVED_PARAMS) or {})}
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()
    )
