"""Hydra's view of the supersweep sweeper: registration only; the work is in ``sweeper``
(its core is imported when a sweep starts, so Hydra's plugin scan stays cheap)."""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig

from hydra_plugins.supersweep_sweeper.config import SupersweepSweeperConf  # noqa: F401  (registers the configs)
from sweeper.settings import SweeperSettings


class SupersweepSweeper(Sweeper):
    def __init__(self, **conf: Any) -> None:
        from sweeper import SweeperCore

        self.core = SweeperCore(SweeperSettings.from_hydra(**conf), given=list(conf))

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        self.core.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> None:
        self.core.sweep(arguments)
