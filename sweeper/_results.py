"""``optimization_results.yaml`` in hydra-optuna-sweeper's shape, plus bounds, counts and replay commands."""

from __future__ import annotations

import os
import shlex
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf

from sweeper._storage import StorageRef
from sweeper.record import TrialKey
from training.runlog import write_text


def replay_command(overrides: list[str]) -> str:
    """The command that reruns a trial by hand; with a ``hydra.searchpath`` (one's own model and
    data) it carries the ``PYTHONPATH`` the sweep ran with, which finds their package."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    entry = f"python -m {spec.name}" if spec is not None and spec.name else f"python {sys.argv[0]}"
    own = any(o.lstrip("+").startswith("hydra.searchpath=") for o in overrides)
    path = os.environ.get("PYTHONPATH") if own else None
    env = [f"PYTHONPATH={shlex.quote(path)}"] if path else []
    return " ".join(
        [*env, entry, *(shlex.quote(o) for o in overrides)]
    )  # pastes into a shell as is


def _trial_entry(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {
        "number": t.number,
        "params": dict(t.params),
        "values": list(t.values or []),
        "job_dir": t.user_attrs.get(TrialKey.JOB_DIR),
        "replay": t.user_attrs.get(TrialKey.REPLAY, ""),
    }


def write_results(
    sweep_dir: Path,
    study: optuna.Study,
    objectives: dict[str, str],
    bounds: dict | None,
    storage: StorageRef,
    recommendation: dict | None = None,
) -> Path:
    """``storage`` is written with its password hidden; the storage as the sweep was given it
    (``storage_source``) only when it holds no secret (``${oc.env:VAR}``, or a URL without a
    password), so that ``tasks.report sweep_dir=...`` can open the study again."""
    states = Counter(t.state.name.lower() for t in study.get_trials(deepcopy=False))
    out: dict[str, Any] = {
        "name": "supersweep",
        "study_name": study.study_name,
        "storage": storage.shown,
        "storage_has_password": storage.has_password,
        "objectives": objectives,
    }
    if storage.source_is_safe:
        out["storage_source"] = storage.source
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if recommendation is not None:  # from the smoothed surface (sweeper._recommend)
        out["recommendation"] = recommendation
    if complete:
        if len(objectives) == 1:
            best = study.best_trial  # the best single run: the maximum of noisy runs
            out["best_params"] = dict(best.params)
            out["best_value"] = best.value
            out["best_trial"] = _trial_entry(best)
        else:
            out["solutions"] = [_trial_entry(t) for t in study.best_trials]
    out["bounds"] = bounds
    out["trials"] = dict(states)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    path = sweep_dir / "optimization_results.yaml"
    write_text(path, OmegaConf.to_yaml(OmegaConf.create(out)))
    return path


# what the trials' user attrs hold, for a reader of optuna-dashboard (it shows them as JSON)
ATTRS_LEGEND = (
    ("status", "completed, pruned (stopped by the pruner or a rung), diverged, collapsed, failed"),
    ("reason", "why a run did not complete, in words"),
    ("epochs_total / rung_epochs", "epochs the trial trained in all / per run (rung) it ran"),
    ("derived_params", "params the job got but the sampler did not draw (wd from lr_x_wd)"),
    ("replay", "the command that reruns the trial's full run by hand"),
    ("paused_at", "an ASHA trial waiting for promotion: its rung and value"),
)


def dashboard_note(study: optuna.Study, lines: list[str]) -> bool:
    """The sweep's end lines (the recommendation first) as the study's note in
    optuna-dashboard, with a legend of the trials' user attrs; False when optuna-dashboard is
    not installed (its note is a convenience, never needed)."""
    try:
        from optuna_dashboard import save_note
    except ImportError:
        return False
    body = [f"## What study {study.study_name} says", ""]
    body += [f"- {line.strip()}" for line in lines if line.strip()]
    body += ["", "### The trials' user attributes", ""]
    body += [f"- `{name}`: {what}" for name, what in ATTRS_LEGEND]
    save_note(study, "\n".join(body))
    return True
