"""The Optuna search behind ``hydra/sweeper=supersweep``.

``space`` (override strings -> distributions), ``seeding`` (max_lr bounds from a range
test), ``study`` (create / resume / refuse, zombie cleanup), ``core`` (the ask/tell loop
over a Hydra launcher), ``trial`` (the job side: per-epoch reports and pruning),
``storage`` and ``results``. Importing this package imports nothing heavy.
"""
