"""The end of a Hydra grid (``python -m tasks.train -m wd=1e-5,1e-4``, Hydra's basic sweeper):
the same closing lines a supersweep sweep prints - counts, the best job by the objective, its
replay command and the report command - from the jobs' ``summary.json`` files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class GridSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        target = str(config.hydra.sweeper.get("_target_", ""))
        if "supersweep" in target:  # our sweeper prints its own summary
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        for line in grid_lines(sweep_dir):
            log.info(line)


def grid_lines(sweep_dir: Path) -> list[str]:
    from reports import grid_rows
    from training.contract import OBJECTIVES

    try:
        rows, objective = grid_rows(sweep_dir, "max_lr", "wd")
    except ValueError as e:  # no job dirs, mixed objectives: say so, do not fail the grid
        return [f"grid done; no summary: {e}"]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    lines = [
        f"grid done: {len(rows)} jobs ("
        + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        + ")"
    ]
    done = [r for r in rows if r.values]
    if done:
        sign = 1 if OBJECTIVES[objective] == "maximize" else -1
        best = max(done, key=lambda r: sign * r.values[0])  # type: ignore[index]
        lines.append(
            f"best job: {objective} = {best.values[0]:.4g} (job {best.number}): {best.replay}"
        )
    lines.append(f"report: python -m tasks.report sweep_dir={sweep_dir}")
    return lines
