"""Search bounds for max_lr from an LR range test: a saved ``range_test.json`` or ``auto``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Seed:
    low: float
    high: float
    suggested: float  # enqueued as the first trial, inside [low, high]
    source: str
    rule: str

    def as_dict(self) -> dict:
        return {"min_lr": self.low, "max_lr": self.high, "suggested_max_lr": self.suggested, "source": self.source, "rule": self.rule}


def from_result(result: dict, source: str) -> Seed:
    b = result["bounds"]
    if b["min_lr"] is None or b["max_lr"] is None:
        raise ValueError(f"range test {source} has no bounds ({result.get('message') or 'unusable curve'}); rerun it with other settings.")
    suggested = result.get("suggested_max_lr") or (b["min_lr"] * b["max_lr"]) ** 0.5
    return Seed(b["min_lr"], b["max_lr"], min(max(suggested, b["min_lr"]), b["max_lr"]), source, b["rule"])


def from_file(path: str) -> Seed:
    from tasks.finder import load_range_test

    return from_result(load_range_test(path), str(Path(path).expanduser()))


def run_auto(task_cfg: DictConfig, out_dir: Path, overrides: list[str]) -> Seed:
    """Run the range test in this process with the task's data, model, optimizer and wd."""
    from tasks.finder import KNOBS
    from tasks.range_test import range_test

    defaults = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "range_test.yaml")
    cfg = OmegaConf.create({k: v for k, v in OmegaConf.to_container(task_cfg, resolve=False).items() if k != "hydra"})
    for k in KNOBS:
        cfg[k] = defaults[k]
    cfg.max_lr = cfg.end_lr  # optimizer configs read it; the test sets the lr every step
    cfg.merge_with_dotlist(list(overrides))
    log.info(f"range test (auto) before the search -> {out_dir}")
    return from_result(range_test(cfg, out_dir), f"auto: {out_dir / 'range_test.json'}")
