"""``python -m tasks.train [overrides]``: one training run, or a Hydra multirun (``-m``).

Writes ``metrics.jsonl`` and ``summary.json`` into the job's output dir and
returns the objective (``objective=...``) to Hydra; a diverged run returns NaN.
A job launched by the supersweep sweeper (``+trial.*`` overrides) also reports each
epoch to its Optuna trial and stops when the pruner says so.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from tasks._cli import CONFIG_PATH, exit_on_config_error, preflight
from training.checks import check_train_config
from training.runner import check_user_code, run
from training.tracking import check_tracker


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="train")
def main(cfg: DictConfig) -> float:
    with exit_on_config_error():
        return run(cfg, Path(HydraConfig.get().runtime.output_dir), callbacks=_trial_bridge(cfg))


def _trial_bridge(cfg: DictConfig) -> list:
    """A job of the supersweep sweeper reports to its trial; a plain run imports no Optuna."""
    if not cfg.get("trial"):
        return []
    from sweeper import trial_callbacks

    return trial_callbacks(cfg)


def check_job(cfg: DictConfig) -> None:
    """What the preflight checks for each job: its config, the tracker it logs to (a URI that
    cannot work), then the user code it calls first
    (data source, statistics pass, batch size against the data, model constructor), once per
    data and model: the data is loaded once, and the jobs reuse it."""
    check_train_config(cfg)
    check_tracker(cfg)
    check_user_code(cfg)


if __name__ == "__main__":
    preflight("train", check_job)
    main()
