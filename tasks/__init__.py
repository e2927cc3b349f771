"""supersweep's runnable Hydra apps: ``python -m tasks.train | range_test | plot_schedule | report``.

Thin: each composes its config from the ``conf`` package and calls the training library
(``training``), the sweeper (``sweeper``) or the reports (``reports``).
"""
