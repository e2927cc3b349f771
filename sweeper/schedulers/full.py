"""One full run per trial (``supersweep_scheduler=full``, the default). The run reports each
epoch's value, so a pruner (median, successive halving, ...) can stop it early."""

from __future__ import annotations

from sweeper.schedulers import Scheduler, SweepContext


class FullRuns(Scheduler):
    def __init__(self, ctx: SweepContext) -> None:
        self.ctx = ctx
