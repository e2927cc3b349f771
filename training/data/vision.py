"""CIFAR-10/100, MNIST and Fashion-MNIST read from torchvision's on-disk formats.

torchvision downloads the archives (when a network exists); we read the files it
leaves with small numpy readers, so that any copy in the real format works -
including the small ones the tests write - without torchvision's checksum list.
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

CIFAR = {
    "cifar10": ("CIFAR10", "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels"),
    "cifar100": ("CIFAR100", "cifar-100-python", ["train"], ["test"], "fine_labels"),
}
MNIST = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


def _fetch(tv_class: str, root: Path, missing: Path, download: bool) -> None:
    """Download with torchvision, or fail naming the path and how to get the files."""
    how = f"copy the {tv_class} files there or run once with a network and data.source.download=true"
    if not download:
        raise FileNotFoundError(f"data_dir: {missing} not found (data.source.download=false); {how}.")
    import torchvision.datasets as tvd

    try:
        for train in (True, False):
            getattr(tvd, tv_class)(str(root), train=train, download=True)
    except Exception as e:  # network errors come in many types
        raise FileNotFoundError(f"data_dir: {missing} not found and the download failed ({type(e).__name__}: {e}); {how}.") from e


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
            with open(d / f, "rb") as fh:
                batch = pickle.load(fh, encoding="latin1")
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
    stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]

    def find(stem: str) -> Path | None:
        return next((p for p in (raw / stem, raw / f"{stem}.gz") if p.exists()), None)

    if any(find(s) is None for s in stems):
        _fetch(tv_class, base, raw, download)
    x_tr, y_tr, x_te, y_te = (_read_idx(find(s)) for s in stems)  # type: ignore[arg-type]
    return x_tr[:, None], y_tr.astype(np.int64), x_te[:, None], y_te.astype(np.int64)
