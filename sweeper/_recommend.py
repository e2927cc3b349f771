"""The sweep's recommendation at its end: the study's runs -> the model (``analysis.surface``)
-> one (max_lr, wd) and its band (``analysis.recommend``); the best single run stays in the
results, labelled as such. ``tasks.report`` reads a study's recommendation through the same
:func:`study_runs`, so the console, results file, dashboard note and report agree."""

from __future__ import annotations

import math
from collections.abc import Sequence

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from analysis.recommend import Recommendation, recommend
from analysis.surface import Run, Surface, fit
from sweeper._keys import SweepKeys
from sweeper.record import DesignState, StudyKey, TrialKey, TrialRecord

Studied = optuna.Study | Sequence[FrozenTrial]  # a study, or its trials (a scheduler's view)


def study_runs(study: Studied, lr: str, wd: str) -> tuple[list[Run], float | None]:
    """Every finished run of the study at its (lr, wd): full runs (complete trials), failed
    runs (diverged, collapsed: no value), and the short complete runs of the rungs scheduler
    (each trial's reports at step = the rung's epochs); and the full run's epochs when rungs
    ran (None otherwise). A run stopped mid-cycle (a pruned or paused trial's own reports)
    says nothing about a complete run and is left out."""
    runs: list[Run] = []
    full: set[float] = set()
    for t in _trials(study):
        if t.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            continue
        record = TrialRecord.of(t)
        a, b = _positive(record.params.get(lr)), _positive(record.params.get(wd))
        if a is None or b is None:
            continue
        runs += [Run(a, b, v, e) for e, v in _rungs(t)]
        if t.state == TrialState.COMPLETE and t.values:
            runs.append(Run(a, b, float(t.values[0])))
            if record.rung_epochs and record.epochs:
                full.add(float(record.epochs))
        elif record.failed_run:
            runs.append(Run(a, b, None))
    rungs = any(r.epochs is not None for r in runs)
    if rungs and not full:  # no run trained in full: the longest rung stands in for it
        full.add(max(r.epochs or 0.0 for r in runs))
    return runs, (max(full) if rungs else None)


def _rungs(t: FrozenTrial) -> list[tuple[float, float]]:
    """A rungs trial's short complete runs: (epochs, value), the full run's excluded."""
    if not t.user_attrs.get(TrialKey.RUNG_EPOCHS):
        return []
    return [(float(e), float(v)) for e, v in t.intermediate_values.items() if math.isfinite(v)]


def _trials(study: Studied) -> Sequence[FrozenTrial]:
    return study.get_trials(deepcopy=False) if isinstance(study, optuna.Study) else study


def searched(study: Studied, key: str) -> tuple[float, float] | None:
    """The range the study searched for ``key`` (its float distribution), None if none."""
    for t in reversed(_trials(study)):
        d = t.distributions.get(key)
        if isinstance(d, FloatDistribution) and d.low > 0:
            return (d.low, d.high)
    return None


def study_surface(study: Studied, lr: str, wd: str, metric: str, maximize: bool) -> Surface | None:
    """The model of the study's runs (a study, or its trials as a scheduler's trial book
    gives them), None with fewer than 2 finished runs."""
    runs, full = study_runs(study, lr, wd)
    if sum(r.value is not None for r in runs) < 2:
        return None
    return fit(
        runs,
        metric=metric,
        maximize=maximize,
        lr_range=_covering(searched(study, lr), [r.lr for r in runs]),
        wd_range=_covering(searched(study, wd), [r.wd for r in runs]),
        full_epochs=full,
    )


def design_undecided(study: optuna.Study) -> str | None:
    """The balance design's stop when it ended undecided (spent its budget), else None: the
    recommendation says it in its own sentence."""
    stored = study.user_attrs.get(StudyKey.DESIGN)
    state = DesignState.of(stored) if stored else None
    return state.stop if state is not None and state.undecided else None


def _covering(rng: tuple[float, float] | None, values: list[float]) -> tuple[float, float]:
    """The searched range, widened to the runs (a design enqueues levels beyond it)."""
    lo, hi = min(values), max(values)
    return (min(lo, rng[0]), max(hi, rng[1])) if rng else (lo, hi)


def recommendation(
    study: optuna.Study, keys: SweepKeys, objectives: dict[str, str], stopped: str | None = None
) -> tuple[dict | None, str]:
    """The recommendation (None when the study cannot give one) and the line that says it."""
    if len(objectives) != 1 or keys.lr is None or keys.wd is None:
        return None, ""
    metric, direction = next(iter(objectives.items()))
    s = study_surface(study, keys.lr, keys.wd, metric, direction == "maximize")
    if s is None:
        finished = len(study_runs(study, keys.lr, keys.wd)[0])
        return None, (
            f"no recommendation: {finished} run(s) with {keys.lr} and {keys.wd} finished, "
            "a model of the runs needs 2"
            if finished or _searched_both(study, keys)
            else ""
        )
    rec: Recommendation = recommend(s, stopped=stopped, keys=(keys.lr, keys.wd))
    return rec.as_dict(), f"recommendation: {rec.sentence}"


def _searched_both(study: optuna.Study, keys: SweepKeys) -> bool:
    return any(
        keys.lr in t.params and keys.wd in t.params for t in study.get_trials(deepcopy=False)
    )


def _positive(v: object) -> float | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
    return float(v) if ok else None  # type: ignore[arg-type]
