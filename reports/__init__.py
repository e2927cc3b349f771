"""Study reports: Pareto fronts, the LR x WD balance map, history, importances, curves.

Public: :func:`write_report` (every file for a study into one directory),
:func:`write_grid_report` (the same for a Hydra grid's job dirs), :func:`analyze_balance`
(best wd per lr level with intervals, the balance slope, a verdict), :func:`find_study`
(a named study, or the one started last, in a storage), :func:`rows` (a study's trials as
plain rows), :class:`ReportError`, :data:`IMAGE_HINT`. Plotly and Optuna load with it.
"""

from analysis import BalanceResult, analyze_balance, smoothed_surface
from reports._grid import grid_job_dirs, grid_rows
from reports._page import IMAGE_HINT, write_grid_report, write_report
from reports._study_data import ReportError, Row, find_study, objectives, rows

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
