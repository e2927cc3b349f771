"""Data that does not fit in memory: ``torch.utils.data`` Datasets read batch by batch.

A source that returns ``(train_dataset, test_dataset)`` (map-style Datasets whose items are
``(input, label)``) is streamed: the validation set is held out of the training set with the
same seeded indices as the in-memory path, the per-channel statistics come from one pass over
the training split (float64 sums), and every epoch reads the same seeded permutation's batches
through a ``DataLoader`` (``data.loader.num_workers`` processes), so a run on a Dataset sees the
batches an in-memory run of the same data sees, and a preempted epoch resumes at its next batch.
Inputs are standardized on the device, after the copy, in float64 as the in-memory path does
(so both paths give the same float32 inputs but for rounding in the statistics' last bits).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, IterableDataset, Subset

from training.errors import UserError

Batch = tuple[torch.Tensor, torch.Tensor]
STATS_BATCH = 1024  # samples per read while the statistics are summed
SPLITS = ("train", "val", "test")


class DataSourceError(UserError):
    """A data source gave what the run cannot use; the message names the key and what is allowed."""


def as_datasets(loaded: object, num_workers: int | None) -> tuple[Dataset, Dataset, int] | None:
    """``(train, test, workers)`` when a source returned two Datasets or two DataLoaders (their
    datasets are read in the run's own seeded batches of ``batch_size``; a loader's
    ``num_workers`` is kept unless ``data.loader.num_workers`` says otherwise); None for arrays."""
    if not isinstance(loaded, (tuple, list)) or len(loaded) != 2:
        return None
    if not all(isinstance(d, (Dataset, DataLoader)) for d in loaded):
        return None
    if num_workers is None:
        num_workers = loaded[0].num_workers if isinstance(loaded[0], DataLoader) else 0
    train, test = (d.dataset if isinstance(d, DataLoader) else d for d in loaded)
    for name, d in (("train", train), ("test", test)):
        if isinstance(d, IterableDataset) or not hasattr(d, "__len__"):
            raise DataSourceError(
                f"data.source: its {name} data is an iterable-style Dataset; a run needs a map-style one "
                "(len() and [i]) to hold out validation and draw seeded batches."
            )
    return train, test, num_workers


class _Batches:
    """A batch sampler the loop refills each epoch: the DataLoader (and its worker processes,
    which only ever see index lists) stays up from one epoch to the next."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


@dataclass(frozen=True)
class StreamSplits:
    """Train / validation / test Datasets and the training split's per-channel mean and std."""

    train: Dataset
    val: Dataset
    test: Dataset
    sizes: tuple[int, int, int]
    mean: torch.Tensor  # float64, shaped (1, C, 1, ...) to broadcast over a batch
    std: torch.Tensor
    num_workers: int = 0
    device: torch.device = torch.device("cpu")
    # two loaders (the shuffled training batches; in-order reads of any split) so that the range
    # test may validate while its stream of training batches is suspended
    _loaders: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n_train(self) -> int:
        return self.sizes[0]

    def size(self, split: str) -> int:
        return self.sizes[SPLITS.index(split)]

    def to(self, device: torch.device | str) -> StreamSplits:
        device = torch.device(device)
        if device == self.device:  # keep the loaders (and their workers) of the cached splits
            return self
        return replace(self, mean=self.mean.to(device), std=self.std.to(device), device=device)

    def train_batches(self, perm: torch.Tensor, batch_size: int, first: int = 0) -> Iterator[Batch]:
        order = perm.cpu()
        steps = self.n_train // batch_size
        loader, sampler = self._loader("train")
        sampler.batches = [
            order[i * batch_size : (i + 1) * batch_size].tolist() for i in range(first, steps)
        ]
        yield from self._read(loader)

    def eval_batches(self, split: str, batch_size: int) -> Iterator[Batch]:
        loader, sampler = self._loader("eval")  # one dataset of the three splits, in order
        offset = sum(self.sizes[: SPLITS.index(split)])
        end = offset + self.size(split)
        sampler.batches = [
            list(range(i, min(i + batch_size, end))) for i in range(offset, end, batch_size)
        ]
        yield from self._read(loader)

    def _loader(self, name: str) -> tuple[DataLoader, _Batches]:
        if name not in self._loaders:
            sampler = _Batches()
            loader = DataLoader(
                self.train if name == "train" else ConcatDataset([self.train, self.val, self.test]),
                batch_sampler=sampler,
                num_workers=self.num_workers,
                persistent_workers=self.num_workers > 0,
                pin_memory=self.device.type == "cuda",
                generator=torch.Generator(),  # workers' seeds: never a draw from the global RNG
                multiprocessing_context=_start_method(self.num_workers),
            )
            self._loaders[name] = (loader, sampler)
        return self._loaders[name]

    def _read(self, loader: DataLoader) -> Iterator[Batch]:
        for x, y in loader:
            x = x.to(self.device, non_blocking=True).double()  # float64 as the in-memory path
            yield ((x - self.mean) / self.std).float(), y.to(self.device, non_blocking=True).long()


def _start_method(num_workers: int) -> str | None:
    """The platform's own default start method for DataLoader workers: a joblib (loky) worker,
    where a sweep's jobs run, replaces the default context with one whose processes a
    DataLoader cannot start ("'Process' object has no attribute 'env'")."""
    return multiprocessing.get_all_start_methods()[0] if num_workers > 0 else None


def stream_splits(
    train: Dataset,
    test: Dataset,
    train_idx: list[int],
    val_idx: list[int],
    input_shape: tuple[int, ...],
    num_workers: int,
    num_classes: int | None = None,
) -> StreamSplits:
    """Hold out ``val_idx``, check the input shape on the first item, sum the statistics."""
    first = torch.as_tensor(train[0][0])
    if tuple(first.shape) != input_shape:
        raise DataSourceError(
            f"data.input_shape is {list(input_shape)} but the source's Dataset gives items of shape {list(first.shape)}."
        )
    tr = Subset(train, train_idx)
    mean, std = _channel_stats(tr, first.ndim, num_workers, num_classes)
    return StreamSplits(
        tr,
        Subset(train, val_idx),
        test,
        (len(train_idx), len(val_idx), len(test)),  # type: ignore[arg-type]
        mean,
        std,
        num_workers,
    )


def _channel_stats(
    train: Dataset, item_ndim: int, num_workers: int, num_classes: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (dim 1 of a batch) mean and std over ``train``, as the in-memory path's; the
    same pass checks the labels against ``num_classes``."""
    axes = (0, *range(2, item_ndim + 1))
    total = sq = torch.zeros((), dtype=torch.float64)
    count = 0
    low, high = 0, 0
    loader = DataLoader(
        train,
        batch_size=STATS_BATCH,
        num_workers=num_workers,
        generator=torch.Generator(),
        multiprocessing_context=_start_method(num_workers),
    )
    for x, y in loader:
        y = torch.as_tensor(y)
        if y.is_floating_point() and not bool(torch.all(y == y.round())):
            raise DataSourceError(
                f"data.source: labels must be class indices (integers), got {y.dtype}."
            )
        low, high = min(low, int(y.min())), max(high, int(y.max()))
        x = x.to(torch.float64)
        total = total + x.sum(dim=axes, keepdim=True)
        sq = sq + (x * x).sum(dim=axes, keepdim=True)
        count += x.numel() // x.shape[1]
    check_labels(np.array([low, high]), num_classes, "data.source (train)")
    mean = total / count
    std = (sq / count - mean * mean).clamp_min(0).sqrt() + 1e-8
    return mean, std


def load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """One ``.npy`` array, never unpickled; a file that is not one (truncated, a text file, a
    pickle, object arrays, empty) is one :class:`DataSourceError` line naming it."""
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError, UnicodeDecodeError) as e:
        first = (str(e).strip().splitlines() or [""])[0][:160]
        raise DataSourceError(
            f"{path} is not a readable .npy array ({type(e).__name__}: {first})."
        ) from None
    if not isinstance(array, np.ndarray):  # np.load of an .npz gives an archive
        raise DataSourceError(f"{path} is not a .npy array (np.save writes one).")
    return array


def check_arrays(x: np.ndarray, y: np.ndarray, what: str) -> None:
    """Inputs of numbers, one integer label per row, at least one row."""
    if x.ndim < 1 or len(x) == 0:
        raise DataSourceError(f"{what}: the inputs have no rows.")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise DataSourceError(f"{what}: inputs must be numbers, got dtype {x.dtype}.")
    if y.ndim != 1 or len(y) != len(x):
        raise DataSourceError(
            f"{what}: one label per input row is needed, got labels of shape {list(y.shape)} for {len(x)} rows."
        )
    integral = np.issubdtype(y.dtype, np.integer) or (
        np.issubdtype(y.dtype, np.floating) and bool(np.all(np.isfinite(y) & (y == np.round(y))))
    )
    if not integral:
        raise DataSourceError(
            f"{what}: labels must be class indices 0..num_classes-1 (integers), got dtype {y.dtype}"
            + (f" with values like {y.flat[0]!r}." if y.size else ".")
        )


def check_labels(y: np.ndarray, num_classes: int | None, what: str) -> None:
    """Labels within ``0 .. num_classes - 1`` (a wrong ``data.num_classes`` fails here, not
    inside the first training step)."""
    if num_classes is None or not len(y):
        return
    low, high = int(np.min(y)), int(np.max(y))
    if low < 0 or high >= num_classes:
        raise DataSourceError(
            f"{what}: labels run {low}..{high} but data.num_classes={num_classes} allows 0..{num_classes - 1}."
        )


class NpyArrays(Dataset):
    """Items of an ``x.npy`` / ``y.npy`` pair read through a memory map: only the rows a batch
    asks for are read from disk. ``allow_pickle=False``: a data file is never code."""

    def __init__(self, x_path: Path | str, y_path: Path | str) -> None:
        self.x_path, self.y_path = Path(x_path), Path(y_path)
        self.y = load_npy(self.y_path)  # labels are small: read once
        self.n = len(self.y)
        self.x: np.ndarray | None = None
        x = load_npy(self.x_path, mmap=True)
        if x.ndim and x.shape[0] != self.n:
            raise DataSourceError(
                f"{self.x_path} has {x.shape[0]} rows but {self.y_path} has {self.n} labels."
            )
        check_arrays(x, self.y, f"{self.x_path.parent}")

    def __len__(self) -> int:
        return self.n

    def __getstate__(self) -> dict:  # a worker started by spawn opens its own map, not a copy
        return {**self.__dict__, "x": None}

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if self.x is None:  # opened in the process that reads (a DataLoader worker has its own)
            self.x = np.load(self.x_path, mmap_mode="r", allow_pickle=False)
        # the stored dtype, as the in-memory path reads it (standardized later, in float64)
        return torch.from_numpy(np.array(self.x[i])), int(self.y[i])


def npy_folder(root: str, stream: bool = True) -> tuple:
    """Arrays saved as ``train_x.npy``, ``train_y.npy``, ``test_x.npy`` and ``test_y.npy`` in
    ``root`` (``np.save`` or, for arrays bigger than memory, ``np.lib.format.open_memmap``):
    streamed from disk as two Datasets, or with ``stream=false`` read whole into memory (the
    fast path, when they fit)."""
    folder = Path(root).expanduser()
    names = [folder / f"{split}_{part}.npy" for split in ("train", "test") for part in ("x", "y")]
    missing = [str(p) for p in names if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"data.source.root={root}: missing {', '.join(missing)}.")
    if not stream:
        return tuple(load_npy(p) for p in names)
    return NpyArrays(names[0], names[1]), NpyArrays(names[2], names[3])
