"""Data sources: MNIST-1D offline and cached, digits, torchvision formats on tiny archives."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from training.data import load_splits, mnist1d, vision
from training.data.splits import holdout

from .conftest import CONF_DIR


def data_cfg(name: str, *overrides: str):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("train", overrides=[f"data={name}", *overrides]).data


def write_cifar(root, name: str, n_train_per_file: int, n_test: int) -> None:
    """A CIFAR archive as torchvision extracts it: pickled dicts of uint8 rows."""
    rng = np.random.default_rng(0)
    folder, train_files, label_key, classes = {
        "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "labels", 10),
        "cifar100": ("cifar-100-python", ["train"], "fine_labels", 100),
    }[name]
    d = root / folder
    d.mkdir(parents=True)
    for fname, n in [(f, n_train_per_file) for f in train_files] + [
        ("test_batch" if name == "cifar10" else "test", n_test)
    ]:
        batch = {
            "batch_label": fname,
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            label_key: rng.integers(0, classes, n).tolist(),
            "filenames": [f"{i}.png" for i in range(n)],
        }
        if name == "cifar100":
            batch["coarse_labels"] = rng.integers(0, 20, n).tolist()
        with open(d / fname, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)


def write_idx(path, array: np.ndarray, compress: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}i", *array.shape
    )
    raw = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as fh:
            fh.write(raw)
    else:
        path.write_bytes(raw)


def write_mnist(root, folder: str, n_train: int, n_test: int, compress: bool) -> None:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for prefix, n in [("train", n_train), ("t10k", n_test)]:
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), compress)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n), compress)


def test_holdout_is_seeded_disjoint_and_complete():
    tr, va = holdout(100, 0.2, seed=3)
    assert len(va) == 20 and len(tr) == 80
    assert set(tr).isdisjoint(va) and set(tr) | set(va) == set(range(100))
    assert (holdout(100, 0.2, seed=3)[1] == va).all() and not (
        holdout(100, 0.2, seed=4)[1] == va
    ).all()
    assert len(holdout(100, 0.0, seed=0)[1]) == 0


def test_mnist1d_offline_cached_and_leaves_global_rng_alone(data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    s = load_splits(data_cfg("mnist1d"))
    assert (np.random.get_state()[1] == before).all(), "make_dataset's reseeding must not leak"
    assert (
        s.train_x.shape == (3600, 1, 40)
        and s.val_x.shape == (400, 1, 40)
        and s.test_x.shape == (1000, 1, 40)
    )
    assert list(tmp_path.iterdir()) == [], "nothing is written into the working directory"
    assert len(list((data_dir / "mnist1d").glob("*.npz"))) == 1
    assert abs(float(s.train_x.mean())) < 1e-4 and abs(float(s.train_x.std()) - 1) < 1e-3


def test_digits_splits():
    s = load_splits(data_cfg("digits"))
    assert s.train_x.shape[1:] == (1, 8, 8)
    assert len(s.train_y) + len(s.val_y) + len(s.test_y) == 1797
    assert set(s.test_y.tolist()) == set(range(10))


def test_val_split_zero_gives_empty_validation():
    s = load_splits(data_cfg("digits", "data.val_split=0"))
    assert len(s.val_y) == 0 and len(s.train_y) == 1797 - 359


@pytest.mark.parametrize("name,classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_reads_the_real_on_disk_format(tmp_path, name, classes):
    per_file = 40 if name == "cifar10" else 200
    write_cifar(tmp_path, name, per_file, 30)
    s = load_splits(data_cfg(name, f"data_dir={tmp_path}", "data.source.download=false"))
    assert (
        s.train_x.shape == (180, 3, 32, 32)
        and s.val_x.shape == (20, 3, 32, 32)
        and s.test_x.shape == (30, 3, 32, 32)
    )
    assert s.train_x.dtype == torch.float32 and int(s.train_y.max()) < classes


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
@pytest.mark.parametrize("compress", [False, True])
def test_mnist_reads_idx_files(tmp_path, name, folder, compress):
    write_mnist(tmp_path, folder, 50, 20, compress)
    s = load_splits(data_cfg(name, f"data_dir={tmp_path}", "data.source.download=false"))
    assert s.train_x.shape == (45, 1, 28, 28) and s.test_x.shape == (20, 1, 28, 28)


@pytest.mark.parametrize("name,folder", [("cifar10", "cifar-10-batches-py"), ("mnist", "MNIST")])
def test_missing_files_error_names_the_path_and_the_fix(tmp_path, name, folder):
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path}/{folder}.*download"):
        load_splits(data_cfg(name, f"data_dir={tmp_path}", "data.source.download=false"))


class _Payload:
    """Pickles as a call to os.system: what a crafted data file would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_cifar_file_runs_nothing_and_is_a_one_line_error(tmp_path, caplog):
    write_cifar(tmp_path, "cifar10", 40, 30)
    marker = tmp_path / "pwned"
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "wb") as fh:
        pickle.dump({"data": _Payload(marker), "labels": [0]}, fh, protocol=2)
    with pytest.raises(
        vision.UnsafeDataFile,
        match=r"data_batch_1 is not a plain CIFAR batch: it refers to (posix|os)\.system",
    ):
        load_splits(data_cfg("cifar10", f"data_dir={tmp_path}", "data.source.download=false"))
    assert not marker.exists(), "nothing in the file ran"
    assert "is not the official file (md5 differs)" in caplog.text


def test_a_truncated_cifar_file_is_a_one_line_error_naming_it(tmp_path):
    write_cifar(tmp_path, "cifar10", 40, 30)
    batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(batch.read_bytes()[:100])
    with pytest.raises(vision.UnsafeDataFile, match=rf"{batch} is not a readable CIFAR batch"):
        load_splits(data_cfg("cifar10", f"data_dir={tmp_path}", "data.source.download=false"))


@pytest.mark.slow
def test_a_truncated_mnist1d_cache_is_named_and_made_again(tmp_path, caplog):
    cfg = data_cfg("mnist1d", f"data_dir={tmp_path}")
    source = {
        k: v
        for k, v in OmegaConf.to_container(cfg.source, resolve=True).items()
        if k not in ("_target_", "root")
    }
    first = mnist1d.load(str(tmp_path), **source)
    cache = next((tmp_path / "mnist1d").glob("*.npz"))
    cache.write_bytes(cache.read_bytes()[:1000])
    again = mnist1d.load(str(tmp_path), **source)
    assert f"the MNIST-1D cache {cache} is unreadable" in caplog.text
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
