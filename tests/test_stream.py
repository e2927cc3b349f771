"""Streamed data (``torch.utils.data`` Datasets): the same batches, the same training as the
in-memory path on the same arrays, a preempted epoch resumed at its next batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from training.checks import ConfigError
from training.data import Splits, StreamSplits, load_splits
from training.data.digits import load as load_digits
from training.loop import FitResult, Preempted, epoch_order, fit
from training.runner import prepare, run
from training.schedules import constant

from .conftest import CONF_DIR

BASE = ["data=digits", "model=mlp", "epochs=3", "batch_size=64", "threads=1", "device=cpu"]


def cfg_for(*overrides: str, npy_root: Path | None = None):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[*BASE, *overrides])
    if npy_root is not None:
        cfg.data.source = OmegaConf.create(
            {"_target_": "training.data.stream.npy_folder", "root": str(npy_root)}
        )
    return cfg


@pytest.fixture(scope="module")
def npy_root(tmp_path_factory) -> Path:
    """digits' own arrays, as ``.npy`` files on disk (what a user with big data would write)."""
    root = tmp_path_factory.mktemp("npy")
    for name, array in zip(
        ("train_x", "train_y", "test_x", "test_y"), load_digits(test_split=0.2, seed=0), strict=True
    ):
        np.save(root / f"{name}.npy", array)
    return root


def test_a_dataset_source_gives_the_same_splits_and_batches_as_its_arrays(npy_root):
    memory, stream = load_splits(cfg_for().data), load_splits(cfg_for(npy_root=npy_root).data)
    assert isinstance(memory, Splits) and isinstance(stream, StreamSplits)
    assert [stream.size(s) for s in ("train", "val", "test")] == [
        memory.size(s) for s in ("train", "val", "test")
    ]
    perm = epoch_order(memory, torch.Generator().manual_seed(0))
    pairs = zip(
        memory.train_batches(perm, 64, first=3),
        stream.train_batches(perm, 64, first=3),
        strict=True,
    )
    for (mx, my), (sx, sy) in pairs:
        assert torch.equal(my, sy) and torch.equal(mx, sx)
    (mx, my), (sx, sy) = (
        next(memory.eval_batches("val", 500)),
        next(stream.eval_batches("val", 500)),
    )
    assert torch.equal(my, sy) and torch.equal(mx, sx)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_run_on_a_dataset_source_trains_as_the_run_on_its_arrays(tmp_path, npy_root, workers):
    """Dropout draws from the global RNG: a DataLoader that drew from it too would differ."""
    run(cfg_for("regularization.dropout=0.2"), tmp_path / "memory")
    stream = cfg_for("regularization.dropout=0.2", npy_root=npy_root)
    with open_dict(stream):
        stream.data.loader = {"num_workers": workers}
    run(stream, tmp_path / "stream")
    read = lambda d: [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    memory, stream = read(tmp_path / "memory"), read(tmp_path / "stream")
    assert len(memory) == len(stream) == 3
    for m, s in zip(memory, stream, strict=True):  # the same inputs, batches and order: equal
        assert {k: v for k, v in s.items() if k != "epoch_s"} == {
            k: v for k, v in m.items() if k != "epoch_s"
        }


def test_a_preempted_stream_epoch_resumes_at_its_next_batch(npy_root):
    def trained(stop_at: int | None) -> list[float]:
        data, stepper = prepare(cfg_for(npy_root=npy_root))
        schedule = constant(total_steps=60, steps_per_epoch=20, max_lr=0.05)
        calls = iter(range(10**6))
        stop = (lambda: "SIGTERM" if next(calls) == stop_at else None) if stop_at else None
        try:
            result = fit(stepper, data, schedule, epochs=3, batch_size=64, stop=stop)
        except Preempted as p:
            resume = FitResult("completed", steps=p.steps, partial=p.partial)
            resume.history = []
            result = fit(stepper, data, schedule, epochs=3, batch_size=64, resume=resume)
        return [m["train_loss"] for m in result.history]

    assert trained(stop_at=7) == trained(stop_at=None)


def test_npy_folder_names_a_missing_file_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"data.source.root=.*missing .*train_x.npy"):
        run(cfg_for(npy_root=tmp_path), tmp_path / "out")


def as_loaders(root: str):
    """A source that hands over DataLoaders, as a torch user's code has them."""
    from torch.utils.data import DataLoader

    from training.data.stream import npy_folder

    train, test = npy_folder(root)
    return DataLoader(train, batch_size=7, shuffle=True), DataLoader(test, batch_size=7)


def as_iterable(root: str):
    from torch.utils.data import IterableDataset

    class Stream(IterableDataset):
        def __iter__(self):
            yield from ()

    return Stream(), Stream()


def with_source(target: str, root: Path):
    cfg = cfg_for()
    cfg.data.source = OmegaConf.create({"_target_": target, "root": str(root)})
    return cfg


def test_dataloaders_from_a_source_are_read_in_the_runs_own_seeded_batches(tmp_path, npy_root):
    """Their batch size and shuffling give way to the run's batch_size and seeded order."""
    run(cfg_for(npy_root=npy_root), tmp_path / "datasets")
    run(with_source("tests.test_stream.as_loaders", npy_root), tmp_path / "loaders")
    read = lambda d: [  # noqa: E731
        {k: v for k, v in json.loads(line).items() if k != "epoch_s"}
        for line in (d / "metrics.jsonl").read_text().splitlines()
    ]
    assert read(tmp_path / "loaders") == read(tmp_path / "datasets")


@pytest.mark.parametrize(
    "target,needle",
    [
        (
            "tests.test_stream.as_iterable",
            "data.source: its train data is an iterable-style Dataset",
        ),
        (
            "training.data.stream.NpyArrays",
            "data.source must return (train_x, train_y, test_x, test_y)",
        ),
    ],
)
def test_a_source_the_run_cannot_use_is_one_line_naming_the_key(tmp_path, npy_root, target, needle):
    cfg = with_source(target, npy_root)
    if target.endswith("NpyArrays"):  # one Dataset, not a (train, test) pair
        cfg.data.source = OmegaConf.create(
            {
                "_target_": target,
                "x_path": str(npy_root / "train_x.npy"),
                "y_path": str(npy_root / "train_y.npy"),
            }
        )
    with pytest.raises(ConfigError) as info:
        run(cfg, tmp_path / "out")
    assert str(info.value).startswith(needle) and "\n" not in str(info.value)


def test_a_dataset_of_the_wrong_input_shape_is_one_line(tmp_path, npy_root):
    cfg = cfg_for("data.input_shape=[64]", npy_root=npy_root)
    with pytest.raises(
        ConfigError,
        match=r"^data.input_shape is \[64\] but the source's Dataset gives items of shape \[1, 8, 8\]",
    ):
        run(cfg, tmp_path / "out")


def _spoil(root: Path, how: str) -> None:
    """One of the fault campaign's bad ``.npy`` folders (digits' arrays, one file spoiled)."""
    import pickle

    x, y = root / "train_x.npy", root / "train_y.npy"
    n = len(np.load(y))
    spoil = {
        "truncated": lambda: x.write_bytes(x.read_bytes()[:200]),
        "garbage header": lambda: x.write_bytes(b"\x93NUMPY\x01\x00" + b"\xff" * 80),
        "text file": lambda: x.write_text("1,2,3\n4,5,6\n"),
        "empty file": lambda: x.write_bytes(b""),
        "object x": lambda: np.save(x, np.array([[1, "a"]] * 10, dtype=object), allow_pickle=True),
        "object y": lambda: np.save(y, np.array([1, "a"] * 5, dtype=object), allow_pickle=True),
        "raw pickle": lambda: x.write_bytes(pickle.dumps({"not": "an array"})),
        "string dtype": lambda: np.save(x, np.full((n, 1, 8, 8), "a")),
        "zero rows": lambda: (
            np.save(x, np.zeros((0, 1, 8, 8), dtype=np.float32)),
            np.save(y, np.zeros((0,), dtype=np.int64)),
        ),
        "float labels": lambda: np.save(y, np.load(y).astype(np.float64) % 4 + 0.5),
        "labels past num_classes": lambda: np.save(y, np.load(y) + 5),
        "string labels": lambda: np.save(y, np.load(y).astype(str)),
    }
    spoil[how]()


@pytest.mark.parametrize(
    ("how", "needle"),
    [
        ("truncated", "is not a readable .npy array"),
        ("garbage header", "is not a readable .npy array"),
        ("text file", "is not a readable .npy array"),
        ("empty file", "is not a readable .npy array"),
        ("object x", "is not a readable .npy array"),
        ("object y", "is not a readable .npy array"),
        ("raw pickle", "is not a readable .npy array"),
        ("string dtype", "inputs must be numbers"),
        ("zero rows", "the inputs have no rows"),
        ("float labels", "labels must be class indices"),
        ("labels past num_classes", "but data.num_classes=10 allows 0..9"),
        ("string labels", "labels must be class indices"),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
def test_a_bad_npy_folder_is_one_line_before_training(tmp_path, npy_root, how, needle, stream):
    import shutil

    root = tmp_path / "npy"
    shutil.copytree(npy_root, root)
    _spoil(root, how)
    cfg = cfg_for(npy_root=root)
    cfg.data.source = OmegaConf.create({**cfg.data.source, "stream": stream})
    with pytest.raises(ConfigError) as info:
        run(cfg, tmp_path / "out")
    assert needle in str(info.value) and "\n" not in str(info.value), str(info.value)
    assert not (tmp_path / "out" / "metrics.jsonl").exists(), "no epoch trained"


class RaisingNet(torch.nn.Module):
    def __init__(self, **kwargs) -> None:
        raise ValueError("channels must be even")


def raising_source(root: str) -> tuple:
    raise RuntimeError("the bucket is not mounted")


@pytest.mark.parametrize(
    ("node", "target", "needle"),
    [
        (
            "model",
            "tests.test_stream.RaisingNet",
            r"^model raised ValueError: channels must be even at test_stream.py:\d+$",
        ),
        (
            "data.source",
            "tests.test_stream.raising_source",
            r"^data.source raised RuntimeError: the bucket is not mounted at test_stream.py:\d+$",
        ),
        (
            "model",
            "mylab.nets.Net",
            r"^model: its _target_ cannot be imported \(.*mylab.*\); is its package on PYTHONPATH\?$",
        ),
        (
            "data.source",
            "mylab.data.load",
            r"^data.source: its _target_ cannot be imported \(.*mylab.*\); is its package on PYTHONPATH\?$",
        ),
    ],
)
def test_own_code_that_raises_is_one_line_naming_the_key(tmp_path, npy_root, node, target, needle):
    cfg = cfg_for(npy_root=npy_root)
    if node == "model":
        cfg.model = OmegaConf.create({"_target_": target})
    else:
        cfg.data.source = OmegaConf.create({"_target_": target, "root": str(npy_root)})
    with pytest.raises(ConfigError, match=needle):
        run(cfg, tmp_path / "out")
