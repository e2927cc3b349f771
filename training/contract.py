"""What a training run reports, in one place: the objectives and their directions, the
per-epoch value a pruner sees for each, the keys of ``metrics.jsonl`` and ``summary.json``,
and which of them a sweeper keeps with each trial. The run, the sweeper and the report all
read these names from here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = [
    "COLLAPSE_FACTOR",
    "EPOCH_KEYS",
    "EPOCH_VALUE",
    "COMMON_KEYS",
    "IDENTITY_KEYS",
    "RUN_CONFIG",
    "TRAIN_KEYS",
    "NULLABLE_KEYS",
    "RUNTIME_KEYS",
    "is_runtime",
    "FAILED_RUNS",
    "OBJECTIVES",
    "STATUSES",
    "STOPPED",
    "SUMMARY_KEYS",
    "RunStatus",
    "RunSummary",
    "SummaryError",
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


@dataclass(frozen=True)
class RunSummary:
    """``summary.json`` of a ``tasks.train`` run, typed: the run writes it from this class and
    ``SUMMARY_KEYS`` are its fields. Selection metrics come from validation only; test is
    reported apart (the final model, and the weights of the best validation epoch)."""

    status: str  # a RunStatus the trainer writes (STATUSES)
    reason: str | None
    objective: str
    best_val_acc: float | None
    best_epoch: int | None
    final_val_acc: float | None
    best_val_loss: float | None
    final_val_loss: float | None
    test_loss: float | None
    test_acc: float | None
    test_loss_at_best: float | None
    test_acc_at_best: float | None
    raw_best_val_acc: float | None  # with weight averaging: the raw weights' (else null)
    raw_test_loss: float | None
    raw_test_acc: float | None
    epochs: int
    steps: int
    wall_s: float
    objective_value: float  # summary[objective]; NaN for a diverged or collapsed run
    # what the numbers were computed with: torch's version, its CPU threads, the device. The
    # same config gives bit-equal results only with the same three (threads change the order
    # of float sums: one digits run moved 1.1 points of test accuracy from 1 to 2 threads)
    numerics: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


SUMMARY_KEYS = tuple(f.name for f in fields(RunSummary))


class RunStatus(StrEnum):
    """A run's status, one vocabulary from the trainer (``summary.json``) through the sweeper's
    trial records to the report. The trainer writes the first four; the sweeper adds the two a
    run cannot say about itself."""

    COMPLETED = "completed"
    DIVERGED = "diverged"  # a NaN / inf loss
    COLLAPSED = "collapsed"  # finite, but at chance and not learning (``runner.collapsed``)
    PRUNED = "pruned"  # stopped by a pruner or a scheduler's rung
    FAILED = "failed"  # the job raised, was killed, or its sweep died (the sweeper's word)
    INTERRUPTED = "interrupted"  # the sweep was stopped (Ctrl-C) while it ran


STATUSES = (RunStatus.COMPLETED, RunStatus.DIVERGED, RunStatus.COLLAPSED, RunStatus.PRUNED)
# runs a sweeper records as PRUNED: ranked below every completed one
STOPPED = (RunStatus.PRUNED, RunStatus.DIVERGED, RunStatus.COLLAPSED)
# runs whose objective is NaN: nothing in them may look good
FAILED_RUNS = (RunStatus.DIVERGED, RunStatus.COLLAPSED)

# a run whose final training accuracy is at most this many times chance (1 / num_classes)
# collapsed without a NaN (e.g. no-BN cnn1d at lr 0.3: 8.9% test, once recorded "completed")
COLLAPSE_FACTOR = 1.5

# The run config's top-level keys, each with its role, in one table: what a run trains with
# (``identity``: a checkpoint must have been written for these, a study's trials share them),
# where it runs (``runtime``: a worker chooses these for itself), and how it is run
# (``control``). ``common`` keys are shared by tasks.train and tasks.range_test; the checks
# require them, the checkpoint fingerprint and a study's fixed settings derive from the roles.
RUN_CONFIG: dict[str, tuple[str, str]] = {  # key -> (which tasks, role)
    "data": ("common", "identity"),
    "model": ("common", "identity"),
    "optimizer": ("common", "identity"),
    "wrapper": ("common", "identity"),
    "regularization": ("common", "identity"),
    "wd": ("common", "identity"),
    "momentum": ("common", "identity"),
    "batch_size": ("common", "identity"),
    "seed": ("common", "identity"),
    "precision": ("common", "identity"),
    "device": ("common", "runtime"),
    "threads": ("common", "runtime"),
    "schedule": ("train", "identity"),
    "averaging": ("train", "identity"),
    "max_lr": ("train", "identity"),
    "epochs": ("train", "identity"),
    "warmup_epochs": ("train", "identity"),
    "objective": ("train", "control"),
    "failed_objective": ("train", "control"),
    "checkpoint": ("train", "control"),
    "tracking": ("train", "runtime"),  # where a run is logged does not change what it trains
}
COMMON_KEYS = tuple(k for k, (tasks, _) in RUN_CONFIG.items() if tasks == "common")
TRAIN_KEYS = tuple(k for k, (tasks, _) in RUN_CONFIG.items() if tasks == "train")
NULLABLE_KEYS = ("failed_objective",)  # null is a setting (NaN), not a key left out
# keys of a composed run config that do not change what it trains: its control and runtime keys,
# the sweeper's bridge and Hydra's own. Every other top-level key is identity (see
# ``identity_keys``): a knob added to the config later is one without being listed anywhere.
NOT_IDENTITY = (
    *(k for k, (_, role) in RUN_CONFIG.items() if role != "identity"),
    "data_dir",
    "sweep_keys",
    "trial",
    "hydra",
)
IDENTITY_KEYS = tuple(k for k, (_, role) in RUN_CONFIG.items() if role == "identity")


def identity_keys(config_keys: Any) -> list[str]:
    """The top-level keys of a composed run config that a checkpoint must have been written for:
    all but ``NOT_IDENTITY`` (the declared identity keys always, set or not)."""
    return list(
        dict.fromkeys([*IDENTITY_KEYS, *(str(k) for k in config_keys if k not in NOT_IDENTITY)])
    )


# where a run runs, flattened: a resumed checkpoint, a study's fixed settings and a second
# worker's sweep may differ in these (the data cache's location included)
RUNTIME_KEYS = (
    *(k for k, (_, role) in RUN_CONFIG.items() if role == "runtime"),
    "data_dir",
    "data.source.root",
)


def is_runtime(dotted: str) -> bool:
    """A flattened config key that says where a run runs (one of, or under, ``RUNTIME_KEYS``)."""
    return any(dotted == k or dotted.startswith(k + ".") for k in RUNTIME_KEYS)


# summary keys a sweeper stores with each trial (Optuna user attrs) and a report reads back
TRIAL_ATTRS = ("status", "reason", "epochs", "steps", "wall_s", "test_acc", "test_acc_at_best")


class SummaryError(ValueError):
    """A ``summary.json`` that cannot be read (truncated by a full disk, not JSON, not a mapping)."""


def read_summary(run_dir: str | Path) -> dict[str, Any] | None:
    """A run dir's ``summary.json``, or None when the run wrote none (it crashed or was killed);
    a file that is there but unreadable is a :class:`SummaryError` naming it, in one line. An
    app's own objective keys may be in it beside (or instead of) :class:`RunSummary`'s."""
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise SummaryError(f"{path} is unreadable ({type(e).__name__}: {e})") from None
    if not isinstance(summary, dict):
        raise SummaryError(f"{path} holds a {type(summary).__name__}, not a mapping")
    return summary
