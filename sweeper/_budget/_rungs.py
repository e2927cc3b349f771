"""Rungs of short *complete* runs (e.g. 1 and 3 epochs) before the full one.

Cutting a one-cycle run early judges it mid-cycle, where small peaks look best; a short
complete cycle is the fair comparison (bench/bench_search.py measures both). The sweeper
reports each run's objective at step = its budget and asks the pruner whether to promote the
trial to the next, longer run; only survivors train the full run. Runs only heartbeat.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import optuna
from optuna.trial import TrialState

from sweeper._job import Job
from sweeper._outcome import Outcome

log = logging.getLogger(__name__)


class Rungs:
    def __init__(self, key: str, budgets: list[int]) -> None:
        self.key, self.budgets = key, budgets  # [*rungs, full] values of key
        self.spent: dict[int, int] = {}  # each trial's epochs over its runs

    def first(self, job: Job) -> Job:
        return self.at(job, 0)

    def at(self, job: Job, step: int) -> Job:
        n = job.number
        last = step == len(self.budgets) - 1
        return replace(
            job,
            step=step,
            subdir=str(n) if last else f"{n}-{self.key}{self.budgets[step]}",
            settings=self.settings(job, step),
            trial=replace(job.trial, report=False),
        )

    def settings(self, job: Job, step: int) -> dict[str, Any]:
        """The budget's own overrides of the run at ``step`` (the full run: the task's own)."""
        return {} if step == len(self.budgets) - 1 else {self.key: self.budgets[step]}

    def on_result(self, job: Job, outcome: Outcome, trial: optuna.Trial) -> Job | None:
        n = job.number
        self.spent[n] = self.spent.get(n, 0) + (outcome.attrs.get("epochs") or 0)
        outcome.attrs["epochs_total"] = self.spent[n]
        last = job.step == len(self.budgets) - 1
        if last or outcome.state != TrialState.COMPLETE or not self._survives(job, outcome, trial):
            return None
        return self.at(job, job.step + 1)

    def _survives(self, job: Job, outcome: Outcome, trial: optuna.Trial) -> bool:
        """Report a short run's objective at step = its budget; the pruner promotes or prunes."""
        budget = self.budgets[job.step]
        assert outcome.values is not None  # a COMPLETE outcome has its values
        value = outcome.values[0]
        trial.report(value, budget)
        trial.set_user_attr("heartbeat", time.time())
        if not trial.should_prune():
            nxt = self.budgets[job.step + 1]
            log.info(
                f"trial {job.number}: {self.key}={budget} -> {value:.4g}, promoted to {self.key}={nxt}"
            )
            return True
        pruner = type(trial.study.pruner).__name__
        outcome.state, outcome.values = TrialState.PRUNED, None
        outcome.attrs.update(
            status="pruned",
            reason=f"pruned by {pruner} after the {self.key}={budget} run ({value:.4g})",
        )
        return False
