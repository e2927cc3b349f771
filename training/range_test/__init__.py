"""Smith's LR range test: the recording loop (``finder``), fastai's suggestion rules and
search bounds (``suggest``), one test from a config (``run``), the weight-decay overlay
(``overlay``) and their figures (``plots``). Names load on first use (no torch for a report)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.lazy import lazy_names

__all__ = [
    "KNOBS",
    "RULES",
    "Recording",
    "analyze",
    "check_bounds",
    "config_for_run",
    "find_lr",
    "load_range_test",
    "range_test",
    "range_test_figure",
    "range_test_html",
    "recommend",
    "run_range_test",
    "suggested_max_lr",
    "summary_line",
    "write_overlay",
]

_F, _O, _P, _R, _S = (
    f"training.range_test.{m}" for m in ("finder", "overlay", "plots", "run", "suggest")
)
__getattr__ = lazy_names(
    __name__,
    {
        "KNOBS": _F,
        "check_bounds": _F,
        "Recording": _F,
        "load_range_test": _F,
        "run_range_test": _F,
        "recommend": _O,
        "write_overlay": _O,
        "range_test_html": _P,
        "range_test_figure": _P,
        "config_for_run": _R,
        "find_lr": "training.range_test.library",
        "range_test": _R,
        "summary_line": _R,
        "RULES": _S,
        "analyze": _S,
        "suggested_max_lr": _S,
    },
)

if TYPE_CHECKING:
    from training.range_test.finder import (
        KNOBS,
        Recording,
        check_bounds,
        load_range_test,
        run_range_test,
    )
    from training.range_test.library import find_lr
    from training.range_test.overlay import recommend, write_overlay
    from training.range_test.plots import range_test_figure, range_test_html
    from training.range_test.run import config_for_run, range_test, summary_line
    from training.range_test.suggest import RULES, analyze, suggested_max_lr
