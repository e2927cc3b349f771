"""Job side of pruning: report each epoch's objective to the trial and stop when pruned.

The sweeper launches every trial with a ``trial`` node (:class:`sweeper.TrialRef`);
the job finds its trial through the public storage API and reports
to it, so this works in any process that reaches the storage (joblib workers,
other machines). Without those overrides a job is a plain, replayable run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import optuna
from omegaconf import DictConfig

from sweeper._jobs import INTERRUPTED
from sweeper._storage import open_storage
from sweeper._study import trial_handle
from sweeper.record import TrialKey
from sweeper.trial_ref import TrialRef
from training.contract import EPOCH_VALUE
from training.loop import StopTraining


class Reporter:
    """Epoch callback: heartbeat, then ``trial.report(value, epoch)`` and ``should_prune()`` ->
    StopTraining (only the heartbeat in rung mode, where the sweeper reports each whole run)."""

    def __init__(
        self, trial: optuna.trial.Trial, metric: str, single_objective: bool, report: bool = True
    ) -> None:
        self.trial, self.single, self.report = trial, single_objective, report
        self.key, self.combine = EPOCH_VALUE.get(metric, (metric, None))
        self.value: float | None = None

    def __call__(self, m: dict) -> None:
        if INTERRUPTED.is_set():  # a Ctrl-C whose KeyboardInterrupt was lost (raised inside a
            raise KeyboardInterrupt  # __del__ or a finalizer, Python ignores it): stop here
        self.trial.set_user_attr(TrialKey.HEARTBEAT, time.time())
        v = m.get(self.key)
        if not self.report or not self.single or v is None or not math.isfinite(v):
            return
        self.value = (
            v if self.combine is None or self.value is None else self.combine(self.value, v)
        )
        self.trial.report(self.value, m["epoch"])
        if self.trial.should_prune():
            raise StopTraining(
                "pruned",
                f"pruned by {type(self.trial.study.pruner).__name__} after epoch {m['epoch']} ({self.key}={v:.4g})",
            )


def trial_callbacks(cfg: DictConfig) -> list[Callable[[dict], None]]:
    """The reporter for a job launched by the sweeper; nothing for a plain run."""
    node = cfg.get("trial")
    if not node:
        return []
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import instantiate

    ref = TrialRef.read(node)
    pruner_cfg = HydraConfig.get().sweeper.get("pruner") if HydraConfig.initialized() else None
    pruner = instantiate(pruner_cfg) if pruner_cfg else optuna.pruners.NopPruner()
    storage = open_storage(ref.storage)
    study = optuna.load_study(study_name=ref.study, storage=storage, pruner=pruner)
    trial = trial_handle(study, storage, ref.number)
    return [Reporter(trial, ref.metric, len(study.directions) == 1, ref.report)]
