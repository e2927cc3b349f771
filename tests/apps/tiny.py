"""A tiny task that follows the supersweep job contract (summary.json, per-epoch reports)."""

import glob
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig

from sweeper import trial_callbacks
from training.loop import StopTraining


def hold(cfg, out: Path) -> None:
    """While ``hold_file`` exists, the job that starts after ``hold_after`` finished runs writes
    ``<hold_file>.held`` and waits there until the test kills the sweep: a kill point, not a race."""
    if not cfg.hold_file or not os.path.exists(cfg.hold_file):
        return
    if len(list(out.parent.glob("*/summary.json"))) >= cfg.hold_after:
        Path(f"{cfg.hold_file}.held").write_text(out.name)  # the event a kill test waits on
        while True:
            time.sleep(0.05)


@hydra.main(version_base="1.3", config_path=".", config_name="tiny")
def main(cfg) -> float:
    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "params.json").write_text(json.dumps({"x": cfg.x, "y": cfg.y, "wd": cfg.wd}))
    hold(cfg, out)
    if cfg.x > cfg.kill_above:
        time.sleep(cfg.kill_delay_s)
        deadline = time.monotonic() + 120  # a last guard: the event below normally comes first
        while (
            cfg.kill_after_glob
            and not glob.glob(cfg.kill_after_glob)
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)  # wait on an event (another job's file), not on the clock
        os.kill(os.getpid(), signal.SIGKILL)
    if cfg.x > cfg.raise_above:
        raise RuntimeError(f"x={cfg.x} is above raise_above")
    if cfg.x > cfg.exit_above:
        sys.exit(3)
    if cfg.x > cfg.interrupt_above:
        raise KeyboardInterrupt
    if cfg.x < cfg.nan_below:
        return math.nan
    callbacks = trial_callbacks(cfg) if cfg.report else []
    status, value = "completed", None
    try:
        for epoch in range(1, (1 if cfg.x < cfg.short_below else cfg.epochs) + 1):
            time.sleep(cfg.sleep_s)
            value = (cfg.x - 0.3) ** 2 + cfg.y / 10 + 1.0 / epoch
            for cb in callbacks:
                cb({"epoch": epoch, "value": value})
    except StopTraining:
        status = "pruned"
    (out / "summary.json").write_text(
        json.dumps({"status": status, "value": value, "epochs": epoch})
    )
    return value


if __name__ == "__main__":
    main()
