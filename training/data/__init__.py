"""Datasets as tensors: every source returns raw train/test arrays; :mod:`.splits`
turns them into normalized train / validation / test tensors."""

from training.data.splits import Splits, load_splits

__all__ = ["Splits", "load_splits"]
