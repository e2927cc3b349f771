"""Study reports: Pareto fronts, the LR x WD balance map, history, importances, curves.

Public: :func:`write_report` (every file for a study into one directory), :func:`find_study`
(a named study, or the one started last, in a storage), :func:`rows` (a study's trials as
plain rows), :class:`ReportError`, :data:`IMAGE_HINT`. Plotly and Optuna load with it.
"""

from reports._page import IMAGE_HINT, write_report
from reports._study_data import ReportError, Row, find_study, objectives, rows

__all__ = ["IMAGE_HINT", "ReportError", "Row", "find_study", "objectives", "rows", "write_report"]
