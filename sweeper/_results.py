"""``optimization_results.yaml`` in hydra-optuna-sweeper's shape, plus bounds, counts and replay commands."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf

from training.runlog import write_text


def replay_command(overrides: list[str]) -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    entry = f"python -m {spec.name}" if spec is not None and spec.name else f"python {sys.argv[0]}"
    return " ".join([entry, *overrides])


def _trial_entry(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {
        "number": t.number,
        "params": dict(t.params),
        "values": list(t.values or []),
        "job_dir": t.user_attrs.get("job_dir"),
        "replay": t.user_attrs.get("replay", ""),
    }


def write_results(
    sweep_dir: Path,
    study: optuna.Study,
    objectives: dict[str, str],
    bounds: dict | None,
    storage: str,
    storage_source: str,
    fixed: list[str],
) -> Path:
    """``storage`` is the URL with its password hidden; ``storage_source`` the storage as the
    sweep was given it, kept only when it holds no secret (``${oc.env:VAR}``, or a URL
    without a password), so that ``tasks.report sweep_dir=...`` can open the study again."""
    states = Counter(t.state.name.lower() for t in study.get_trials(deepcopy=False))
    out: dict[str, Any] = {
        "name": "supersweep",
        "study_name": study.study_name,
        "storage": storage,
        "objectives": objectives,
    }
    if "***" not in storage or "${" in storage_source:
        out["storage_source"] = storage_source
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if complete:
        if len(objectives) == 1:
            best = study.best_trial
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
