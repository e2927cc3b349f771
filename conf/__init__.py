"""supersweep's Hydra configs, shipped as package data: the apps load them as ``pkg://conf``."""
