"""A launched job's result as a trial outcome, read through the run contract (``summary.json``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn
from optuna.trial import TrialState

from sweeper.record import TrialKey
from training.contract import STOPPED, TRIAL_ATTRS, RunStatus, SummaryError, read_summary


@dataclass
class Outcome:
    state: TrialState
    values: list[float] | None
    attrs: dict[str, Any]

    @classmethod
    def ended(cls, state: TrialState, status: RunStatus, reason: str) -> Outcome:
        """A trial the sweeper ends itself (no run result): its state, status and why."""
        return cls(state, None, {TrialKey.STATUS: status, TrialKey.REASON: reason[:500]})


def failed(reason: str, job_dir: Path | None) -> Outcome:
    out = Outcome.ended(TrialState.FAIL, RunStatus.FAILED, reason)
    out.attrs[TrialKey.JOB_DIR] = str(job_dir)
    return out


def job_outcome(ret: JobReturn, objectives: dict[str, str]) -> Outcome:
    """A job's result as a trial outcome: from its ``summary.json`` (the run contract) when it wrote one."""
    job_dir = Path(ret.hydra_cfg.hydra.runtime.output_dir) if ret.hydra_cfg else None
    try:
        value = ret.return_value
    except BaseException as e:  # the job raised
        return failed(f"{type(e).__name__}: {e}", job_dir)
    return _from_summary(job_dir, value, objectives)


def dir_outcome(job_dir: Path, objectives: dict[str, str], reason: str) -> Outcome:
    """A job whose return the launcher lost (a killed or cancelled sibling broke the batch): its
    result from its run dir when it finished and wrote ``summary.json``, else a failure."""
    if not (job_dir / "summary.json").is_file():
        return failed(reason, job_dir)
    return _from_summary(job_dir, None, objectives)


def _from_summary(job_dir: Path | None, value: Any, objectives: dict[str, str]) -> Outcome:
    """One owner for a run's result: its ``summary.json`` when it wrote one (the run contract),
    else what the task returned (an app that writes no summary)."""
    try:
        summary = read_summary(job_dir) if job_dir else None
    except SummaryError as e:  # a full disk truncated it: the trial fails, the sweep goes on
        return failed(str(e), job_dir)
    attrs: dict[str, Any] = {TrialKey.JOB_DIR: str(job_dir)}
    if summary is not None:
        attrs.update({k: summary.get(k) for k in TRIAL_ATTRS})
        if summary.get("status") in STOPPED:
            return Outcome(TrialState.PRUNED, None, attrs)
        values = [summary.get(m) for m in objectives]
    else:
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        attrs[TrialKey.STATUS] = RunStatus.COMPLETED
    finite = [
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
    ]
    if len(values) != len(objectives) or not all(finite):
        attrs.update(
            status=RunStatus.FAILED,
            reason=attrs.get(TrialKey.REASON)
            or f"objective values {values} are not finite numbers",
        )
        return Outcome(TrialState.FAIL, None, attrs)
    return Outcome(TrialState.COMPLETE, [float(v) for v in values if v is not None], attrs)
