"""``python -m tasks.range_test [data=... model=... optimizer=... wd=...]``: the LR range test.

Writes ``range_test.json`` (curve, suggestions, search bounds, divergence point,
cost, config) and ``range_test.html`` into the output dir and prints a one-line
summary. With ``-m wd=a,b,c`` it runs one test per wd and overlays them in the
sweep dir; ``overlay=<dir>`` overlays tests run earlier.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from tasks.checks import CONF_DIR, check_each_job, check_group_choices, check_range_test_config, exit_on_config_error
from tasks.finder import knobs, run_range_test
from tasks.plots import range_test_html
from tasks.runlog import write_json
from tasks.suggest import RULES, analyze
from tasks.training import prepare

log = logging.getLogger(__name__)


def range_test(cfg: DictConfig, out_dir: Path) -> dict:
    """Run the test that ``cfg`` describes and write its files; returns the JSON content."""
    check_range_test_config(cfg)
    data, stepper = prepare(cfg)  # a model of its own: nothing here touches a later run
    curve = run_range_test(stepper, data, batch_size=cfg.batch_size, **knobs(cfg))
    suggestions, bounds, message = analyze(curve.lrs, curve.smoothed_losses, cfg.num_iter)
    iterations = len(curve.lrs)
    result = {
        "lrs": curve.lrs,
        "losses": curve.losses,
        "smoothed_losses": curve.smoothed_losses,
        "suggestions": suggestions,
        "suggestion_rules": {name: rule.__doc__.strip().splitlines()[0] for name, rule in RULES.items()},
        # the one-cycle peak to try first: the middle of the bounds on the log scale
        "suggested_max_lr": (bounds["min_lr"] * bounds["max_lr"]) ** 0.5 if bounds["max_lr"] is not None else None,
        "bounds": bounds,
        "diverged_at": curve.diverged_at,
        "stop_reason": curve.stop_reason,
        "message": message,
        "num_iter": cfg.num_iter,
        "iterations": iterations,
        "epochs": iterations * cfg.batch_size / len(data.train_y),
        "seconds": curve.seconds,
        "val": curve.val,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "range_test.json", result)
    range_test_html(result, out_dir / "range_test.html")
    log.info(summary_line(result, out_dir))
    if message:
        log.warning(message)
    return result


def summary_line(r: dict, out_dir: Path) -> str:
    fmt = lambda v: "n/a" if v is None else f"{v:.3g}"  # noqa: E731
    b = r["bounds"]
    return (
        f"range test: suggested max_lr {fmt(r['suggested_max_lr'])}, search bounds [{fmt(b['min_lr'])}, {fmt(b['max_lr'])}], "
        f"{'stopped at lr ' + fmt(r['diverged_at']) if r['diverged_at'] is not None else 'no divergence'}; "
        f"{r['iterations']} iterations = {r['epochs']:.2f} epochs in {r['seconds']:.1f}s -> {out_dir / 'range_test.json'}"
    )


@hydra.main(version_base="1.3", config_path="../conf", config_name="range_test")
def main(cfg: DictConfig) -> float | None:
    with exit_on_config_error():
        if cfg.overlay is not None:
            from tasks.overlay import write_overlay

            write_overlay(Path(cfg.overlay))
            return None
        result = range_test(cfg, Path(HydraConfig.get().runtime.output_dir))
        return result["bounds"]["max_lr"]


if __name__ == "__main__":
    with exit_on_config_error():
        check_group_choices(sys.argv[1:], CONF_DIR)
        check_each_job(sys.argv[1:], "range_test", check_range_test_config)
    main()
