"""Analyses of many runs, as plain numbers in and results out (numpy only): the bottom layer
that the sweeper (an adaptive balance design) and the reports both read.

- :func:`analyze_balance`: how the best weight decay moves with the peak lr (plateaus, ridge,
  slope with a bootstrap interval, named predictions, dead levels).
- :func:`ped_anova`: which params matter (PED-ANOVA importances).
"""

from analysis.balance import BalanceResult, Level, analyze_balance, smoothed_surface
from analysis.importance import Param, ped_anova

__all__ = ["BalanceResult", "Level", "Param", "analyze_balance", "ped_anova", "smoothed_surface"]
