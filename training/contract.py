"""What a training run reports, in one place: the objectives and their directions, the
per-epoch value a pruner sees for each, the keys of ``metrics.jsonl`` and ``summary.json``,
and which of them a sweeper keeps with each trial. The run, the sweeper and the report all
read these names from here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = [
    "COLLAPSE_FACTOR",
    "EPOCH_KEYS",
    "EPOCH_VALUE",
    "IDENTITY_KEYS",
    "RUNTIME_KEYS",
    "is_runtime",
    "FAILED_RUNS",
    "OBJECTIVES",
    "STATUSES",
    "STOPPED",
    "SUMMARY_KEYS",
    "TRIAL_ATTRS",
    "read_summary",
]

# objective (a summary.json key) -> direction; a run returns summary[objective]
OBJECTIVES: dict[str, str] = {
    "best_val_acc": "maximize",
    "final_val_acc": "maximize",
    "best_val_loss": "minimize",
    "final_val_loss": "minimize",
}

# per-epoch value reported to a pruner for each objective: (metrics.jsonl key, running best or latest)
EPOCH_VALUE: dict[str, tuple[str, Any]] = {
    "best_val_acc": ("val_acc", max),
    "final_val_acc": ("val_acc", None),
    "best_val_loss": ("val_loss", min),
    "final_val_loss": ("val_loss", None),
}

# one metrics.jsonl line per epoch
EPOCH_KEYS = (
    "epoch",
    "step",
    "lr",
    "momentum",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "epoch_s",
)

SUMMARY_KEYS = (
    "status",
    "reason",
    "objective",
    "best_val_acc",
    "best_epoch",
    "final_val_acc",
    "best_val_loss",
    "final_val_loss",
    "test_loss",
    "test_acc",
    "test_loss_at_best",
    "test_acc_at_best",
    "raw_best_val_acc",
    "raw_test_loss",
    "raw_test_acc",
    "epochs",
    "steps",
    "wall_s",
    "objective_value",
)

STATUSES = ("completed", "diverged", "collapsed", "pruned")
STOPPED = (
    "pruned",
    "diverged",
    "collapsed",
)  # runs a sweeper records as PRUNED: ranked below every completed one
FAILED_RUNS = (
    "diverged",
    "collapsed",
)  # runs whose objective is NaN: nothing in them may look good

# a run whose final training accuracy is at most this many times chance (1 / num_classes)
# collapsed without a NaN (e.g. no-BN cnn1d at lr 0.3: 8.9% test, once recorded "completed")
COLLAPSE_FACTOR = 1.5

# what a run trains with (a checkpoint must have been written for these) ...
IDENTITY_KEYS = (
    "data", "model", "optimizer", "wrapper", "regularization", "schedule", "averaging",
    "epochs", "batch_size", "seed", "max_lr", "wd", "momentum", "warmup_epochs", "precision",
    "lr_estimate",
)  # fmt: skip
# ... and where it runs: a worker chooses these for itself (a resumed checkpoint, a study's fixed
# settings and a second worker's sweep may differ in them)
RUNTIME_KEYS = ("device", "threads", "data_dir", "data.source.root")


def is_runtime(dotted: str) -> bool:
    """A flattened config key that says where a run runs (one of, or under, ``RUNTIME_KEYS``)."""
    return any(dotted == k or dotted.startswith(k + ".") for k in RUNTIME_KEYS)


# summary keys a sweeper stores with each trial (Optuna user attrs) and a report reads back
TRIAL_ATTRS = ("status", "reason", "epochs", "wall_s", "test_acc", "test_acc_at_best")


def read_summary(run_dir: str | Path) -> dict[str, Any] | None:
    """A run dir's ``summary.json``, or None when the run wrote none (it crashed or was killed)."""
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        return None
    summary: dict[str, Any] = json.loads(path.read_text())
    return summary
