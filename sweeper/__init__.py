"""The Optuna search (overrides -> distributions, range-test bounds, ask/tell,
pruning, storage). Grows with the sweeper issue; kept import-cheap."""
