"""``python -m tasks.train [overrides]``: one training run, or a Hydra multirun (``-m``).

Writes ``metrics.jsonl`` and ``summary.json`` into the job's output dir and
returns the objective (``objective=...``) to Hydra; a diverged run returns NaN.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from tasks.checks import CONF_DIR, check_each_job, check_group_choices, check_train_config, exit_on_config_error
from tasks.training import run


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    with exit_on_config_error():
        return run(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    with exit_on_config_error():
        check_group_choices(sys.argv[1:], CONF_DIR)
        check_each_job(sys.argv[1:], "train", check_train_config)
    main()
