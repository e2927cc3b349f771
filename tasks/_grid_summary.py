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
            f"best single job: {objective} = {best.values[0]:.4g} (job {best.number}): {best.replay}"
        )
        lines += _recommendation(rows, objective)
    lines.append(f"report: python -m tasks.report sweep_dir={sweep_dir}")
    return lines


def _recommendation(rows: list, objective: str) -> list[str]:
    """The grid's recommendation from its smoothed surface, as a sweep ends with (a grid that
    varied max_lr and wd over at least 10 finished jobs)."""
    from analysis import analyze_balance
    from training.contract import FAILED_RUNS, OBJECTIVES

    usable = [
        r
        for r in rows
        if isinstance(r.params.get("max_lr"), float | int)
        and isinstance(r.params.get("wd"), float | int)
        and (r.values or r.status in FAILED_RUNS)
    ]
    lrs = {float(r.params["max_lr"]) for r in usable}
    wds = {float(r.params["wd"]) for r in usable}
    if len(lrs) < 2 or len(wds) < 2 or sum(bool(r.values) for r in usable) < 10:
        return []
    result = analyze_balance(
        [float(r.params["max_lr"]) for r in usable],
        [float(r.params["wd"]) for r in usable],
        [r.values[0] if r.values else None for r in usable],
        metric=objective,
        maximize=OBJECTIVES[objective] == "maximize",
    )
    rec = result.recommendation
    return [f"recommendation: {rec['sentence']}"] if rec else []
