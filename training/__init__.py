"""The training library: one run from a composed config, and everything it is made of.

``runner`` (build, fit, evaluate, write ``summary.json``), ``loop`` (the epoch/step loop),
``schedules`` (lr and momentum as pure functions of the step), ``regularization`` (weight
decay applied by the loop), ``augment``, ``runtime`` (device, precision, seeds), ``runlog``
(files a run writes), ``checks`` (one-line config errors), ``contract`` (what a run
reports: objectives, summary keys), ``data/``, ``models/`` and ``range_test/``. It imports
no app, sweeper or report. Names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.lazy import lazy_names

__all__ = ["ConfigError", "OBJECTIVES", "StopTraining", "prepare", "run", "summarize"]

__getattr__ = lazy_names(
    __name__,
    {
        "ConfigError": "training.checks",
        "OBJECTIVES": "training.contract",
        "StopTraining": "training.loop",
        "prepare": "training.runner",
        "run": "training.runner",
        "summarize": "training.runner",
    },
)

if TYPE_CHECKING:
    from training.checks import ConfigError
    from training.contract import OBJECTIVES
    from training.loop import StopTraining
    from training.runner import prepare, run, summarize
