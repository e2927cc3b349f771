"""A study's trials as plain rows: params, values, outcome, cost, per-epoch curves."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna

from sweeper import open_storage, redact, sqlite_file
from sweeper.record import StudyKey, TrialRecord
from training.contract import TRIAL_ATTRS
from training.errors import UserError

log = logging.getLogger(__name__)


class ReportError(UserError):
    """The study cannot give the asked-for report; the message says why."""


@dataclass
class Row:
    """One trial; ``status``, ``epochs``, ``wall_s``, ``test_acc`` and ``reason`` are the run's
    ``summary.json`` values the sweeper kept (``training.contract.TRIAL_ATTRS``)."""

    number: int
    state: str  # complete | pruned | fail | running | waiting
    status: str  # completed | pruned | diverged | failed | ...
    params: dict[str, Any]
    values: list[float] | None
    epochs: int | None
    wall_s: float | None
    test_acc: float | None
    reason: str | None
    job_dir: str | None
    replay: str
    curve: list[tuple[int, float]] = field(default_factory=list)  # (epoch, val_acc)
    test_acc_at_best: float | None = (
        None  # the best-validation epoch's weights (reported, never selected on)
    )
    steps: int | None = None  # optimizer steps the run took (with epochs: steps per epoch)

    def metric(self, key: str, objectives: list[str]) -> float | None:
        """An objective (by name), ``epochs``, ``wall_s``, ``test_acc`` or a param."""
        if key in objectives and self.values is not None:
            return self.values[objectives.index(key)]
        if key in ("epochs", "wall_s", "test_acc"):
            return getattr(self, key)
        v = self.params.get(key)
        return float(v) if isinstance(v, (int, float)) else None


def job_metrics(job_dir: str | None) -> list[dict] | None:
    """A job dir's metrics.jsonl, one dict per epoch; None when it has none."""
    path = Path(job_dir) / "metrics.jsonl" if job_dir else None
    if path is None or not path.is_file():
        return None
    metrics = []
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        try:
            m = json.loads(line) if line.strip() else None
        except ValueError:  # a kill or a full disk cut the last write short
            m = f"line {n} is not JSON"
        if isinstance(m, dict):
            metrics.append(m)
        elif m is not None:
            log.warning(
                f"{path}: {m if isinstance(m, str) else f'line {n} is not an object'}; skipped"
            )
    return metrics


def job_curve(job_dir: str | None) -> list[tuple[int, float]] | None:
    """Per-epoch validation accuracy from a job dir's metrics.jsonl; None when it has none."""
    metrics = job_metrics(job_dir)
    return (
        None
        if metrics is None
        else [(m["epoch"], m["val_acc"]) for m in metrics if m.get("val_acc") is not None]
    )


def _curve(t: optuna.trial.FrozenTrial) -> list[tuple[int, float]]:
    """Per-epoch validation accuracy from the job's metrics.jsonl, else the reported values."""
    pts = job_curve(TrialRecord.of(t).job_dir)
    if pts is not None:
        return pts
    return sorted(
        (int(k), v) for k, v in t.intermediate_values.items() if v is not None and math.isfinite(v)
    )


def rows(trials: Sequence[optuna.trial.FrozenTrial]) -> list[Row]:
    out = []
    for t in trials:
        a, r = t.user_attrs, TrialRecord.of(t)
        out.append(
            Row(
                number=t.number,
                state=t.state.name.lower(),
                **{k: a.get(k) for k in TRIAL_ATTRS if k not in ("status", "epochs")},
                status=str(r.status or t.state.name.lower()),
                params=r.params,  # with the derived ones (wd of a study that searched lr x wd)
                values=list(t.values) if t.values is not None else None,
                epochs=r.epochs
                if r.epochs is not None
                else (max(t.intermediate_values) if t.intermediate_values else None),
                job_dir=r.job_dir,
                replay=r.replay,
                curve=_curve(t),
            )
        )
    return out


def objectives(study: optuna.Study) -> list[str]:
    names = study.user_attrs.get(StudyKey.METRICS)
    return (
        list(names)
        if names
        else [
            f"value_{i}" if len(study.directions) > 1 else "value"
            for i in range(len(study.directions))
        ]
    )


def find_study(study_name: str | None, storage_url: str) -> optuna.Study:
    """The named study, or the one started last in ``storage_url``. A report only reads: a
    SQLite file that is not there is named, never created empty."""
    database = sqlite_file(storage_url)
    if database is not None and not database.is_file():
        raise ReportError(
            f"the study storage {redact(storage_url)} does not exist ({database} is not a file); run a sweep first or pass storage=..."
        )
    storage = open_storage(storage_url)
    studies = storage.get_all_studies()  # names and ids only: a summary would load every trial
    if not studies:
        raise ReportError(
            f"no studies in {redact(storage_url)}; run a sweep first (python -m tasks.train -m sweep=lr_wd)."
        )
    if study_name is None:
        # the study started last (a study with no trial yet has no start time: it counts as oldest)
        study_name = max(studies, key=lambda s: _started(storage, s.study_name)).study_name
    elif study_name not in {s.study_name for s in studies}:
        raise ReportError(
            f"study_name={study_name} not in {redact(storage_url)}; studies there: {sorted(s.study_name for s in studies)}."
        )
    return optuna.load_study(study_name=study_name, storage=storage)


def _started(storage: optuna.storages.BaseStorage, study_name: str) -> datetime:
    """When a study's first trial started (small queries); the oldest time when it has none."""
    try:
        study_id = storage.get_study_id_from_name(study_name)
        first = storage.get_trial_id_from_study_id_trial_number(study_id, 0)
    except KeyError:
        return datetime.min
    return storage.get_trial(first).datetime_start or datetime.min


def searched_range(
    trials: Sequence[optuna.trial.FrozenTrial], key: str
) -> tuple[float, float] | None:
    """The range the study searched for ``key``: its float distribution's bounds, or its
    numeric choices' extremes; None when no trial drew ``key`` (e.g. wd of an lr x wd search)."""
    lows, highs = [], []
    for t in trials:
        d = t.distributions.get(key)
        if isinstance(
            d, (optuna.distributions.FloatDistribution, optuna.distributions.IntDistribution)
        ):
            lows.append(float(d.low))
            highs.append(float(d.high))
        elif isinstance(d, optuna.distributions.CategoricalDistribution):
            nums = [float(c) for c in d.choices if isinstance(c, (int, float))]
            if nums:
                lows.append(min(nums))
                highs.append(max(nums))
    return (min(lows), max(highs)) if lows else None


def chance_value(metric: str, num_classes: object) -> float | None:
    """The metric of a model that guesses: 1/classes for an accuracy, ln(classes) for a loss."""
    if not isinstance(num_classes, int) or num_classes < 2:
        return None
    if metric.endswith("_acc"):
        return 1 / num_classes
    if metric.endswith("_loss"):
        return math.log(num_classes)
    return None


def steps_per_epoch(rs: list[Row]) -> float | None:
    """Optimizer steps per epoch, from any finished run that recorded both."""
    for r in rs:
        if r.steps and r.epochs:
            return r.steps / r.epochs
    return None
