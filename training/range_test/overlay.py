"""Range tests at several weight decays overlaid, and a recommended (max_lr, wd) pair.

Smith's "disciplined approach": run the range test once per weight decay; the
weight decay whose curve reaches the lowest loss is the better-balanced one, and
among near-ties the one that tolerates the larger lr wins (regularization
balance: a larger lr calls for less weight decay).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from training.checks import ConfigError
from training.range_test.finder import load_range_test
from training.range_test.plots import overlay_html
from training.range_test.suggest import suggested_max_lr
from training.runlog import write_json

log = logging.getLogger(__name__)

TIE = 0.02  # curves whose lowest loss is within 2% of the best count as tied
RULE = (
    f"the wd whose smoothed loss reaches the lowest minimum; among wds within {TIE:.0%} of that minimum, "
    "the one with the largest max_lr bound; its suggested max_lr as a single test suggests it "
    "(the middle of its bounds on a log scale), its bounds as they are"
)


def recommend(tests: list[dict]) -> dict:
    """Pick (max_lr, wd) from tests that each carry ``wd``, ``min_smoothed_loss`` and ``bounds``."""
    usable = [
        t
        for t in tests
        if t["bounds"]["max_lr"] is not None and math.isfinite(t["min_smoothed_loss"])
    ]
    if not usable:
        return {
            "suggested_max_lr": None,
            "bounds": None,
            "wd": None,
            "rule": RULE,
            "message": "no test has a usable curve",
        }
    best = min(t["min_smoothed_loss"] for t in usable)
    tied = [t for t in usable if t["min_smoothed_loss"] <= best + TIE * abs(best)]
    pick = max(tied, key=lambda t: t["bounds"]["max_lr"])
    return {
        "suggested_max_lr": suggested_max_lr(pick["bounds"]),  # the word and rule of one test
        "bounds": {"min_lr": pick["bounds"]["min_lr"], "max_lr": pick["bounds"]["max_lr"]},
        "wd": pick["wd"],
        "rule": RULE,
    }


def write_overlay(directory: Path) -> dict:
    """Overlay every ``range_test.json`` below ``directory``; writes ``range_test_overlay.{json,html}`` there."""
    directory = directory.expanduser()
    files = sorted(directory.glob("*/range_test.json")) or sorted(directory.glob("range_test.json"))
    if not files:
        raise ConfigError(
            f"overlay: no */range_test.json under {directory}; run python -m tasks.range_test -m wd=... first."
        )
    tests = []
    for f in files:
        r = load_range_test(f)
        finite = [v for v in r["smoothed_losses"] if v is not None and math.isfinite(v)]
        tests.append(
            {
                "file": str(f),
                "wd": r["config"]["wd"],
                "lrs": r["lrs"],
                "smoothed_losses": r["smoothed_losses"],
                "min_smoothed_loss": min(finite) if finite else math.inf,
                "bounds": r["bounds"],
                "suggestions": r["suggestions"],
                "diverged_at": r["diverged_at"],
            }
        )
    tests.sort(key=lambda t: t["wd"])
    rec = recommend(tests)
    summary = {
        "recommended": rec,
        "tests": [
            {k: v for k, v in t.items() if k not in ("lrs", "smoothed_losses")} for t in tests
        ],
    }
    write_json(directory / "range_test_overlay.json", summary)
    overlay_html(tests, rec, directory / "range_test_overlay.html")
    fmt = lambda v: "n/a" if v is None else f"{v:.3g}"  # noqa: E731
    bounds = rec["bounds"] or {}
    log.info(
        f"overlay of {len(tests)} range tests: wd={fmt(rec['wd'])}, suggested max_lr={fmt(rec['suggested_max_lr'])} "
        f"(its test's bounds {fmt(bounds.get('min_lr'))} .. {fmt(bounds.get('max_lr'))}) -> {directory / 'range_test_overlay.html'}"
    )
    return summary


class OverlayOnMultirunEnd(Callback):
    """Hydra callback: after ``tasks.range_test -m ...``, overlay the jobs' tests in the sweep dir."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if any(sweep_dir.glob("*/range_test.json")):
            write_overlay(sweep_dir)
