"""Search bounds for max_lr: the user's interval, a saved ``range_test.json``, or ``auto``
(a range test run first, in this process)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution

from sweeper._errors import SweepError
from training.range_test import (
    check_bounds,
    config_for_run,
    load_range_test,
    range_test,
    suggested_max_lr,
)

log = logging.getLogger(__name__)


class BoundsError(SweepError):
    """Bounds that a search cannot use (a bad range_test.json, malformed stored bounds)."""


SOURCES = (
    "user",
    "file",
    "auto",
)  # given by hand | a range_test.json | a test run before the search


@dataclass(frozen=True)
class Bounds:
    low: float | None  # None: the user searches max_lr as a categorical
    high: float | None
    suggested: float | None  # enqueued as the first trial, inside [low, high]
    source: str  # one of SOURCES
    path: str | None  # the range_test.json the bounds came from
    rule: str
    steps_per_epoch: int | None = None  # a training run's, as the range test saw the data

    def as_dict(self) -> dict:
        """As stored with the study (``bounds`` user attr) and in ``optimization_results.yaml``."""
        d = asdict(self)
        return {
            "min_lr": d.pop("low"),
            "max_lr": d.pop("high"),
            "suggested_max_lr": d.pop("suggested"),
            **d,
        }

    def __post_init__(self) -> None:
        """Bounds a search trusts (the user's own come from a parsed interval)."""
        if self.source not in SOURCES:
            raise BoundsError(
                f"bounds: source must be one of {list(SOURCES)}, got {self.source!r}."
            )
        if self.source != "user":
            try:
                where = f"bounds from {self.describe()}"
                check_bounds(self.low, self.high, self.suggested, where, allow_null=False)
            except ValueError as e:
                raise BoundsError(str(e)) from None

    @classmethod
    def from_dict(cls, d: object) -> Bounds:
        """Bounds as stored with a study; anything malformed is a BoundsError naming what is wrong."""
        if not isinstance(d, dict) or not {"min_lr", "max_lr", "source"} <= d.keys():
            raise BoundsError(
                f"bounds must be a mapping with min_lr, max_lr and source, got {d!r}."
            )
        source, path = d["source"], d.get("path")
        if (
            isinstance(source, str) and source not in SOURCES and path is None
        ):  # before 0.1.0: "auto: <path>" or the path itself
            source, path = (
                ("auto", source.removeprefix("auto: "))
                if source.startswith("auto: ")
                else ("file", source)
            )
        return cls(
            d["min_lr"], d["max_lr"], d.get("suggested_max_lr"), source, path, d.get("rule", "")
        )

    def distribution(self, margin: float = 0.0) -> FloatDistribution:
        """The log-scale interval a seeded search draws ``max_lr`` from: the bounds widened by
        ``margin`` decades on each side (the bounds seed the search; they do not fence it)."""
        if self.low is None or self.high is None:
            raise BoundsError(f"bounds from {self.describe()} have no interval")
        return FloatDistribution(self.low / 10**margin, self.high * 10**margin, log=True)

    def levels(self, offsets: list[float]) -> CategoricalDistribution:
        """``max_lr`` at ``high * 10**offset`` for each offset (3 significant digits, so the
        overrides read well), for a grid that reaches below and above the bounds."""
        if self.high is None:
            raise BoundsError(f"bounds from {self.describe()} have no max_lr")
        return CategoricalDistribution(sorted({float(f"{self.high * 10**d:.3g}") for d in offsets}))

    @classmethod
    def user(cls, d: Any) -> Bounds:
        """The user's own distribution for the lr key (an interval has bounds, a choice none)."""
        low, high = getattr(d, "low", None), getattr(d, "high", None)
        return cls(low, high, None, "user", None, "given on the command line or in params")

    def span(self) -> str:
        return f"[{self.low:.3g}, {self.high:.3g}]" if self.low and self.high else "(none)"

    def describe(self) -> str:
        return f"{self.source}: {self.path}" if self.path else self.source


def from_result(result: dict, source: str, path: str) -> Bounds:
    b = result["bounds"]
    if b["min_lr"] is None or b["max_lr"] is None:
        raise BoundsError(
            f"range test {path} has no bounds ({result.get('message') or 'unusable curve'}); rerun it with other settings."
        )
    suggested = result.get("suggested_max_lr") or suggested_max_lr(b)
    return Bounds(
        b["min_lr"],
        b["max_lr"],
        min(max(suggested, b["min_lr"]), b["max_lr"]),
        source,
        path,
        b["rule"],
        result.get("steps_per_epoch"),
    )


def from_file(path: str) -> Bounds:
    p = Path(path).expanduser()
    try:
        result = load_range_test(p)
    except (OSError, ValueError) as e:  # missing, unreadable, not a range_test.json
        raise BoundsError(str(e)) from None
    return from_result(result, "file", str(p))


def run_auto(task_cfg: DictConfig, out_dir: Path, overrides: list[str]) -> Bounds:
    """Run the range test in this process with the task's data, model, optimizer and wd, and the
    test's own settings from the shipped ``conf/range_test.yaml`` (what ``tasks.range_test`` runs)."""
    settings = OmegaConf.load(str(files("conf") / "range_test.yaml"))
    assert isinstance(settings, DictConfig)
    cfg = config_for_run(task_cfg, settings, overrides)
    log.info(f"range test (auto) before the search -> {out_dir}")
    return from_result(range_test(cfg, out_dir), "auto", str(out_dir / "range_test.json"))
