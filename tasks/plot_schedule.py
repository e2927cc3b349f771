"""``python -m tasks.plot_schedule schedule=... epochs=... steps_per_epoch=...``

Writes ``schedule.csv`` (``step,lr,momentum``, one row per optimizer step) and
``schedule.html`` (lr and momentum against step) into the output dir, using the
same schedule config and warmup composition as ``tasks.train``.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from tasks._cli import CONFIG_PATH, exit_on_config_error, preflight
from training.checks import check_number, check_schedule_plot_config
from training.schedules import Schedule, with_warmup

log = logging.getLogger(__name__)


def build(cfg: DictConfig) -> tuple[Schedule, int]:
    check_number("epochs", cfg.epochs, low=1, low_inclusive=True, integer=True)
    check_number("steps_per_epoch", cfg.steps_per_epoch, low=1, low_inclusive=True, integer=True)
    check_number(
        "warmup_epochs", cfg.warmup_epochs, low=0, low_inclusive=True, high=cfg.epochs - 1e-9
    )
    total = cfg.epochs * cfg.steps_per_epoch
    sched = with_warmup(  # the schedule's own checks raise ConfigError: one line
        instantiate(cfg.schedule),
        total_steps=total,
        steps_per_epoch=cfg.steps_per_epoch,
        warmup_steps=round(cfg.warmup_epochs * cfg.steps_per_epoch),
    )
    return sched, total


def schedule_html(
    steps: Sequence[int], lrs: Sequence[float], moms: Sequence[float | None], title: str, path: Path
) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=list(steps), y=list(lrs), name="lr"), secondary_y=False)
    if moms and moms[0] is not None:
        fig.add_trace(
            go.Scatter(x=list(steps), y=list(moms), name="momentum", line={"dash": "dot"}),
            secondary_y=True,
        )
    fig.update_layout(title=title, xaxis_title="optimizer step")
    fig.update_yaxes(title_text="lr", secondary_y=False)
    fig.update_yaxes(title_text="momentum", secondary_y=True)
    fig.write_html(path, include_plotlyjs=True, full_html=True)


def write(sched: Schedule, total: int, out_dir: Path, title: str) -> None:
    rows = [(s, *sched(s)) for s in range(total)]
    with (out_dir / "schedule.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["step", "lr", "momentum"])
        w.writerows((s, repr(lr), "" if m is None else repr(m)) for s, lr, m in rows)

    schedule_html(
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        title,
        out_dir / "schedule.html",
    )


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="plot_schedule")
def main(cfg: DictConfig) -> None:
    with exit_on_config_error():
        sched, total = build(cfg)
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    name = HydraConfig.get().runtime.choices["schedule"]
    write(sched, total, out_dir, f"{name}: {cfg.epochs} epochs x {cfg.steps_per_epoch} steps")
    log.info(f"{total} steps -> {out_dir / 'schedule.csv'}, {out_dir / 'schedule.html'}")


if __name__ == "__main__":
    preflight("plot_schedule", check_schedule_plot_config)
    main()
