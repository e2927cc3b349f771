"""CIFAR-10/100, MNIST and Fashion-MNIST read from torchvision's on-disk formats.

torchvision downloads the archives (when a network exists); we read the files it
leaves with small numpy readers, so that any copy in the real format works - including
the small ones the tests write. A file in ``data_dir`` is data, never code: CIFAR's
pickles are read by an unpickler that admits only the plain types those files hold (a
crafted file is a one-line error naming it), and their md5 is checked against the
official list (torchvision's): another file is read the same safe way, with a warning.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import pickle
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

CIFAR = {
    "cifar10": (
        "CIFAR10",
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        "labels",
    ),
    "cifar100": ("CIFAR100", "cifar-100-python", ["train"], ["test"], "fine_labels"),
}
MNIST = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
OFFICIAL_MD5 = {  # https://www.cs.toronto.edu/~kriz/cifar.html, as torchvision lists them
    "cifar-10-batches-py/data_batch_1": "c99cafc152244af753f735de768cd75f",
    "cifar-10-batches-py/data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "cifar-10-batches-py/data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "cifar-10-batches-py/data_batch_4": "634d18415352ddfa80567beed471001a",
    "cifar-10-batches-py/data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "cifar-10-batches-py/test_batch": "40351d587109b95175f43aff81a1287e",
    "cifar-100-python/train": "16019d7e3df5f24257cddd939b257f8d",
    "cifar-100-python/test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
}
# what a CIFAR batch holds: a dict of str/bytes keys, lists of ints, a uint8 ndarray (numpy's own
# reconstructors, under numpy 1 and 2 module names); nothing that can run code
SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class UnsafeDataFile(ValueError):
    """A data file holds something other than plain data."""


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in SAFE_GLOBALS:
            raise UnsafeDataFile(f"it refers to {module}.{name}, which a CIFAR batch never holds")
        return super().find_class(module, name)


def load_plain_pickle(path: Path) -> Any:
    """A pickle that may hold only plain data (see ``SAFE_GLOBALS``); anything else is a
    one-line error naming the file, and nothing in it runs."""
    raw = path.read_bytes()
    key = f"{path.parent.name}/{path.name}"
    if key in OFFICIAL_MD5 and hashlib.md5(raw).hexdigest() != OFFICIAL_MD5[key]:
        log.warning(
            f"data_dir: {path} is not the official file (md5 differs); reading it as plain data only"
        )
    try:
        return _PlainUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except UnsafeDataFile as e:
        raise UnsafeDataFile(
            f"data_dir: {path} is not a plain CIFAR batch: {e}; refusing to load it (delete it and download again)."
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise UnsafeDataFile(
            f"data_dir: {path} is not a readable CIFAR batch ({type(e).__name__}: {e}); delete it and download again."
        ) from None


def _fetch(tv_class: str, root: Path, missing: Path, download: bool) -> None:
    """Download with torchvision, or fail naming the path and how to get the files."""
    how = (
        f"copy the {tv_class} files there or run once with a network and data.source.download=true"
    )
    if not download:
        raise FileNotFoundError(
            f"data_dir: {missing} not found (data.source.download=false); {how}."
        )
    import torchvision.datasets as tvd

    try:
        for train in (True, False):
            getattr(tvd, tv_class)(str(root), train=train, download=True)
    except Exception as e:  # network errors come in many types
        raise FileNotFoundError(
            f"data_dir: {missing} not found and the download failed ({type(e).__name__}: {e}); {how}."
        ) from e


def cifar(root: str, name: str, download: bool) -> tuple[np.ndarray, ...]:
    """``(train_x, train_y, test_x, test_y)`` with uint8 inputs ``(N, 3, 32, 32)``."""
    tv_class, folder, train_files, test_files, label_key = CIFAR[name]
    base = Path(root).expanduser()
    d = base / folder
    if not all((d / f).exists() for f in train_files + test_files):
        _fetch(tv_class, base, d, download)

    def read(files: list[str]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for f in files:
            batch = load_plain_pickle(d / f)
            xs.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[label_key], dtype=np.int64))
        return np.concatenate(xs), np.concatenate(ys)

    return (*read(train_files), *read(test_files))


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (plain or .gz): big-endian header, then uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file.")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(tuple(dims))


def mnist(root: str, name: str, download: bool) -> tuple[np.ndarray, ...]:
    """``(train_x, train_y, test_x, test_y)`` with uint8 inputs ``(N, 1, 28, 28)``."""
    tv_class = MNIST[name]
    base = Path(root).expanduser()
    raw = base / tv_class / "raw"
    stems = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]

    def find(stem: str) -> Path | None:
        return next((p for p in (raw / stem, raw / f"{stem}.gz") if p.exists()), None)

    if any(find(s) is None for s in stems):
        _fetch(tv_class, base, raw, download)
    x_tr, y_tr, x_te, y_te = (_read_idx(find(s)) for s in stems)  # type: ignore[arg-type]
    return x_tr[:, None], y_tr.astype(np.int64), x_te[:, None], y_te.astype(np.int64)
