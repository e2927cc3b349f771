"""The sweep's recommendation at its end (``analysis.recommend`` on the study's runs): one
(max_lr, wd) and the band as good within the seed noise, read from the smoothed surface; the
best single run stays in the results, labelled as such."""

from __future__ import annotations

import math

import optuna
from optuna.trial import TrialState

from analysis import analyze_balance
from analysis.recommend import MIN_RUNS, too_few_runs
from sweeper._keys import SweepKeys
from training.contract import FAILED_RUNS


def recommendation(
    study: optuna.Study, keys: SweepKeys, objectives: dict[str, str]
) -> tuple[dict | None, str]:
    """The recommendation (None when the study cannot give one) and the line that says it."""
    if len(objectives) != 1 or keys.lr is None or keys.wd is None:
        return None, ""
    metric, direction = next(iter(objectives.items()))
    lrs, wds, values = [], [], []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        params = {**t.params, **(t.user_attrs.get("derived_params") or {})}
        lr, wd = _positive(params.get(keys.lr)), _positive(params.get(keys.wd))
        failed = t.user_attrs.get("status") in FAILED_RUNS
        if lr is None or wd is None or (t.state == TrialState.PRUNED and not failed):
            continue  # a pruned trial was stopped short: it says nothing about its full run
        lrs.append(lr)
        wds.append(wd)
        values.append(t.values[0] if t.state == TrialState.COMPLETE and t.values else None)
    complete = sum(v is not None for v in values)
    if not lrs:  # the sweep did not search both: nothing to say
        return None, ""
    if complete < MIN_RUNS:
        return None, f"no recommendation: {too_few_runs(complete, keys.lr, keys.wd)}"
    result = analyze_balance(lrs, wds, values, metric=metric, maximize=direction == "maximize")
    rec = result.recommendation
    if rec is None:
        return None, f"no recommendation: no lr level trained ({result.verdict})"
    return rec, f"recommendation: {rec['sentence']}"


def _positive(v: object) -> float | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
    return float(v) if ok else None  # type: ignore[arg-type]
