"""Train / validation / test tensors from any data source, cached per process.

A source (``data.source`` in config, built with ``_target_``) returns
``(train_x, train_y, test_x, test_y)`` as numpy arrays. Here the validation set
is held out of the training set with its own seed, and inputs are standardized
per channel with training-split statistics only (validation and test never leak
into the statistics, and selection never sees the test split).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf


@dataclass(frozen=True)
class Splits:
    """Float inputs shaped ``(N, *input_shape)`` and int64 labels, on one device."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    def to(self, device: torch.device | str) -> Splits:
        return Splits(*(t.to(device, non_blocking=True) for t in self.__dict__.values()))


def holdout(n: int, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)``: a seeded random ``val_split`` fraction held out."""
    if not 0 <= val_split < 1:
        raise ValueError(f"data.val_split must be in [0, 1), got {val_split!r}.")
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_split))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _standardize(train: np.ndarray, *others: np.ndarray) -> list[torch.Tensor]:
    """Per-channel (axis 1) z-scoring with statistics of ``train``."""
    axes = (0, *range(2, train.ndim))
    mean = train.mean(axis=axes, keepdims=True, dtype=np.float64)
    std = train.std(axis=axes, keepdims=True, dtype=np.float64) + 1e-8
    return [torch.from_numpy(((a - mean) / std).astype(np.float32)) for a in (train, *others)]


@lru_cache(maxsize=4)
def _cached(
    source_json: str, val_split: float, split_seed: int, input_shape: tuple[int, ...]
) -> Splits:
    source = OmegaConf.create(json.loads(source_json))
    # called as a partial so that a source's own error (e.g. missing files) surfaces unwrapped
    train_x, train_y, test_x, test_y = instantiate(source, _partial_=True)()
    shape = tuple(train_x.shape[1:])
    if shape != input_shape:
        raise ValueError(
            f"data.input_shape is {list(input_shape)} but the source gives {list(shape)}."
        )
    tr, va = holdout(len(train_x), val_split, split_seed)
    x_tr, x_va, x_te = _standardize(train_x[tr], train_x[va], test_x)
    y = [torch.as_tensor(a, dtype=torch.int64) for a in (train_y[tr], train_y[va], test_y)]
    return Splits(x_tr, y[0], x_va, y[1], x_te, y[2])


def load_splits(data_cfg: DictConfig) -> Splits:
    """CPU tensors for ``data_cfg``; repeated jobs in one process reuse them."""
    source = json.dumps(OmegaConf.to_container(data_cfg.source, resolve=True), sort_keys=True)
    return _cached(
        source, float(data_cfg.val_split), int(data_cfg.split_seed), tuple(data_cfg.input_shape)
    )
