"""Study reports: Pareto fronts, the LR x WD balance map, history, importances, curves."""
