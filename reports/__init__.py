"""Study reports: Pareto fronts, the LR x WD balance map, history, importances, curves.

Public: :func:`write_report` (every file for a study into one directory),
:func:`write_grid_report` (the same for a Hydra grid's job dirs), :func:`analyze_balance`
(best wd per lr level with intervals, the balance slope, a verdict), :func:`find_study`
(a named study, or the one started last, in a storage), :func:`rows` (a study's trials as
plain rows), :class:`ReportError`, :data:`IMAGE_HINT`; :mod:`reports.chrome` (image export).
The names load on first use: ``reports.chrome`` starts Chrome before plotly and Optuna load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.lazy import lazy_names

__all__ = [
    "IMAGE_HINT",
    "BalanceResult",
    "ReportError",
    "Row",
    "analyze_balance",
    "find_study",
    "grid_job_dirs",
    "grid_rows",
    "objectives",
    "rows",
    "smoothed_surface",
    "write_grid_report",
    "write_report",
]

__getattr__ = lazy_names(
    __name__,
    {
        "BalanceResult": "analysis",
        "analyze_balance": "analysis",
        "smoothed_surface": "analysis",
        "grid_job_dirs": "reports._grid",
        "grid_rows": "reports._grid",
        "IMAGE_HINT": "reports._page",
        "write_grid_report": "reports._page",
        "write_report": "reports._page",
        "ReportError": "reports._study_data",
        "Row": "reports._study_data",
        "find_study": "reports._study_data",
        "objectives": "reports._study_data",
        "rows": "reports._study_data",
    },
)

if TYPE_CHECKING:
    from analysis import BalanceResult, analyze_balance, smoothed_surface
    from reports._grid import grid_job_dirs, grid_rows
    from reports._page import IMAGE_HINT, write_grid_report, write_report
    from reports._study_data import ReportError, Row, find_study, objectives, rows
