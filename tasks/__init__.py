"""supersweep tasks: the runnable Hydra apps and the training library they share."""
