"""One full run per trial. The run reports each epoch's value, so a pruner stops it early."""

from __future__ import annotations

import optuna

from sweeper._job import Job
from sweeper._outcome import Outcome


class FullRuns:
    def first(self, job: Job) -> Job:
        return job

    def on_result(self, job: Job, outcome: Outcome, trial: optuna.Trial) -> Job | None:
        return None
