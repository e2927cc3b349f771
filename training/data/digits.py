"""scikit-learn's bundled 8x8 digits (1797 images), split into train and test by seed."""

from __future__ import annotations

import numpy as np


def load(test_split: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(train_x, train_y, test_x, test_y)``; inputs ``(N, 1, 8, 8)`` in [0, 16]."""
    from sklearn.datasets import load_digits

    if not 0 < test_split < 1:
        raise ValueError(f"data.source.test_split must be in (0, 1), got {test_split!r}.")
    digits = load_digits()
    x = digits.images.astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(len(y) * test_split))
    te, tr = np.sort(order[:n_test]), np.sort(order[n_test:])
    return x[tr], y[tr], x[te], y[te]
