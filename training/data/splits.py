"""Train / validation / test tensors from any data source, cached per process.

A source (``data.source`` in config, built with ``_target_``) returns
``(train_x, train_y, test_x, test_y)`` as numpy arrays (held in memory, the fast path), or
``(train_dataset, test_dataset)`` as ``torch.utils.data`` Datasets (streamed, see
:mod:`.stream`). Both give the loop the same interface. Here the validation set
is held out of the training set with its own seed, and inputs are standardized
per channel with training-split statistics only (validation and test never leak
into the statistics, and selection never sees the test split).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from training.checks import user_code
from training.data.stream import (
    Batch,
    DataSourceError,
    StreamSplits,
    as_datasets,
    check_arrays,
    check_labels,
    stream_splits,
)
from training.data.vision import UnsafeDataFile


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

    @property
    def device(self) -> torch.device:
        return self.train_x.device

    @property
    def n_train(self) -> int:
        return len(self.train_y)

    def size(self, split: str) -> int:
        return len(getattr(self, f"{split}_y"))

    def train_batches(self, perm: torch.Tensor, batch_size: int, first: int = 0) -> Iterator[Batch]:
        """The full batches of ``perm`` from batch ``first`` on, as index slices (no copy loop)."""
        for i in range(first, self.n_train // batch_size):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            yield self.train_x[idx], self.train_y[idx]

    def eval_batches(self, split: str, batch_size: int) -> Iterator[Batch]:
        x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
        for i in range(0, len(y), batch_size):
            yield x[i : i + batch_size], y[i : i + batch_size]


Data = Splits | StreamSplits  # what the loop, the range test and the runner take


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
    source_json: str,
    val_split: float,
    split_seed: int,
    input_shape: tuple[int, ...],
    num_workers: int | None,
    num_classes: int | None = None,
) -> Data:
    source = OmegaConf.create(json.loads(source_json))
    # called as a partial so that a source's own error (e.g. missing files) surfaces unwrapped
    loaded = user_code(  # the project's own loaders' errors are one line already
        "data.source",
        lambda: instantiate(source, _partial_=True)(),
        keep=(DataSourceError, FileNotFoundError, UnsafeDataFile),
    )
    datasets = as_datasets(loaded, num_workers)
    if datasets is not None:
        train, test, workers = datasets
        tr, va = holdout(len(train), val_split, split_seed)  # type: ignore[arg-type]
        return stream_splits(
            train, test, tr.tolist(), va.tolist(), input_shape, workers, num_classes
        )
    if not isinstance(loaded, (tuple, list)) or len(loaded) != 4:
        raise DataSourceError(
            "data.source must return (train_x, train_y, test_x, test_y) arrays, or two torch "
            f"Datasets or DataLoaders (train, test); it returned {type(loaded).__name__}"
            + (f" of {len(loaded)} values." if isinstance(loaded, (tuple, list)) else ".")
        )
    train_x, train_y, test_x, test_y = (np.asarray(a) for a in loaded)
    check_arrays(train_x, train_y, "data.source (train)")
    check_arrays(test_x, test_y, "data.source (test)")
    for labels, split in ((train_y, "train"), (test_y, "test")):
        check_labels(labels, num_classes, f"data.source ({split})")
    shape = tuple(train_x.shape[1:])
    if shape != input_shape:
        raise DataSourceError(
            f"data.input_shape is {list(input_shape)} but the source gives {list(shape)}."
        )
    tr, va = holdout(len(train_x), val_split, split_seed)
    x_tr, x_va, x_te = _standardize(train_x[tr], train_x[va], test_x)
    y = [torch.as_tensor(a, dtype=torch.int64) for a in (train_y[tr], train_y[va], test_y)]
    return Splits(x_tr, y[0], x_va, y[1], x_te, y[2])


def load_splits(data_cfg: DictConfig) -> Data:
    """CPU tensors (or streamed Datasets) for ``data_cfg``; repeated jobs in one process reuse them."""
    source = json.dumps(OmegaConf.to_container(data_cfg.source, resolve=True), sort_keys=True)
    return _cached(
        source,
        float(data_cfg.val_split),
        int(data_cfg.split_seed),
        tuple(data_cfg.input_shape),
        OmegaConf.select(data_cfg, "loader.num_workers", default=None),
        OmegaConf.select(data_cfg, "num_classes", default=None),
    )
