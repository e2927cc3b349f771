"""``python -m tasks.range_test [data=... model=... optimizer=... wd=...]``: the LR range test.

Writes ``range_test.json`` (curve, suggestions, search bounds, divergence point,
cost, config) and ``range_test.html`` into the output dir and prints a one-line
summary. With ``-m wd=a,b,c`` it runs one test per wd and overlays them in the
sweep dir; ``overlay=<dir>`` overlays tests run earlier.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from tasks._cli import CONFIG_PATH, exit_on_config_error, preflight
from training.checks import check_range_test_config
from training.range_test import range_test, write_overlay


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="range_test")
def main(cfg: DictConfig) -> float | None:
    with exit_on_config_error():
        if cfg.overlay is not None:
            write_overlay(Path(cfg.overlay))
            return None
        result = range_test(cfg, Path(HydraConfig.get().runtime.output_dir))
        return result["bounds"]["max_lr"]


if __name__ == "__main__":
    preflight("range_test", check_range_test_config)
    main()
