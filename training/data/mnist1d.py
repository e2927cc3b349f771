"""MNIST-1D (Greydanus & Kobak), generated offline and cached on disk.

``mnist1d.data.get_dataset`` downloads and writes a pickle into the CWD; we call
``make_dataset`` instead, which needs no network, and cache its output under
``root`` keyed by every generation argument. ``make_dataset`` reseeds the global
``random``/``np.random``; we restore both so that generating data never changes
a run's randomness.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import zipfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from training.runlog import atomic_path

log = logging.getLogger(__name__)


def load(root: str, **generation: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(train_x, train_y, test_x, test_y)`` with inputs shaped ``(N, 1, length)``.

    Args:
        root: cache directory (created if missing).
        generation: overrides of ``mnist1d.data.get_dataset_args()`` such as
            ``num_samples``, ``train_split``, ``seed``.
    """
    # keyed by the arguments given and the package version, so that a cached dataset is read
    # without importing mnist1d (~0.6 s of every job's start-up); a new version makes it anew
    key = hashlib.sha1(
        json.dumps({"mnist1d": version("mnist1d"), **generation}, sort_keys=True).encode()
    ).hexdigest()[:16]
    path = Path(root).expanduser() / "mnist1d" / f"{key}.npz"
    if path.exists():
        try:
            return _read(path)
        except (
            zipfile.BadZipFile,
            EOFError,
            OSError,
            KeyError,
            ValueError,
        ) as e:  # truncated or foreign: made again
            log.warning(
                f"data_dir: the MNIST-1D cache {path} is unreadable ({type(e).__name__}: {e}); generating it again"
            )
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args(as_dict=True)
    unknown = set(generation) - set(args)
    if unknown:
        raise ValueError(
            f"data.source has unknown mnist1d arguments {sorted(unknown)}; allowed: {sorted(args)}."
        )
    args.update(generation)
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(type("Args", (), args))
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:  # parallel jobs never read half a file
        np.savez(tmp, x=data["x"], y=data["y"], x_test=data["x_test"], y_test=data["y_test"])
    return _read(path)


def _read(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as d:  # arrays only: nothing in the file runs
        return d["x"][:, None, :], d["y"], d["x_test"][:, None, :], d["y_test"]
