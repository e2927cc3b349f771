"""A trial's cost for the afternoon recipe (``sweep=cifar_lr_wd``: CIFAR-10 ResNet-20, 50 epochs,
batch 512), measured per training image and scaled to CIFAR-10's 45k training images.

CIFAR-10 itself cannot be downloaded here: the archive is torchvision's on-disk format with
random pixels (the cost, not the accuracy). Each repeat is one ``python -m tasks.train`` run of
a few epochs; the first epoch (warm-up, data loading) is left out of the per-image figure.

    python bench/trial_cost.py [--images 4000] [--epochs 3] [--repeats 3] [--device cpu] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TRAIN_IMAGES = 45_000  # CIFAR-10's 50k less the 10% validation split
RECIPE_EPOCHS = 50


def write_cifar10(root: Path, n_train: int, n_test: int = 500) -> None:
    rng = np.random.default_rng(0)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    per = n_train // 5
    for name, n in [(f"data_batch_{i}", per) for i in range(1, 6)] + [("test_batch", n_test)]:
        batch = {
            "batch_label": name,
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "labels": rng.integers(0, 10, n).tolist(),
            "filenames": [f"{i}.png" for i in range(n)],
        }
        with open(d / name, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)


def one(root: Path, out: Path, epochs: int, device: str, threads: int) -> list[float]:
    cmd = [
        sys.executable, "-m", "tasks.train", "data=cifar10", "model=resnet20", f"epochs={epochs}",
        "batch_size=512", "precision=fp32", f"device={device}", f"threads={threads}", f"data_dir={root}",
        "data.source.download=false", "checkpoint.every=0", f"hydra.run.dir={out}",
    ]  # fmt: skip
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [float(json.loads(x)["epoch_s"]) for x in lines if x.strip()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=4000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "data"
        write_cifar10(root, a.images)
        train = int(a.images * 0.9)
        per_image = []
        for k in range(a.repeats):
            epoch_s = one(root, Path(d) / f"run{k}", a.epochs, a.device, a.threads)
            per_image += [s / train for s in epoch_s[1:]]
    med = statistics.median(per_image)
    trial_s = med * TRAIN_IMAGES * RECIPE_EPOCHS
    print(
        f"ResNet-20, batch 512, {a.device} ({a.threads} threads): {1 / med:.0f} training images/s "
        f"(median of {len(per_image)} epochs, range {1 / max(per_image):.0f}..{1 / min(per_image):.0f}); "
        f"one CIFAR-10 epoch ~{med * TRAIN_IMAGES:.0f} s, a {RECIPE_EPOCHS}-epoch trial ~{trial_s / 60:.0f} min"
    )


if __name__ == "__main__":
    main()
