"""GPU path of ``tasks.train``: bf16 autocast vs fp32 (both channels_last), side by side.

ResNet on a CIFAR-10 archive in the real on-disk format (random pixels and labels,
written here because no download is possible: throughput only, accuracy is
meaningless), interleaved over repeats; plus the default MNIST-1D run on CUDA.

    python bench/bench_gpu.py [--model resnet20] [--epochs 3] [--repeats 3] [--batch-size 512]
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir

from training.runner import run

CONF = str(Path(__file__).resolve().parents[1] / "conf")


def write_random_cifar10(root: Path, n_train: int = 50_000, n_test: int = 10_000) -> None:
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    per = n_train // 5
    for name, n in [(f"data_batch_{i}", per) for i in range(1, 6)] + [("test_batch", n_test)]:
        with open(d / name, "wb") as fh:
            pickle.dump(
                {
                    "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                    "labels": rng.integers(0, 10, n).tolist(),
                },
                fh,
            )


def images_per_s(out: Path, n_train: int, batch: int) -> float:
    epochs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][
        1:
    ]  # epoch 1 warms up
    return (n_train // batch) * batch * len(epochs) / sum(m["epoch_s"] for m in epochs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=512)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(torch.cuda.get_device_name(0), torch.__version__)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_random_cifar10(tmp / "data")
        common = [
            "data=cifar10",
            f"data_dir={tmp / 'data'}",
            "data.source.download=false",
            f"model={a.model}",
            "device=cuda",
            f"epochs={a.epochs}",
            f"batch_size={a.batch_size}",
            "max_lr=0.4",
            "wd=5e-4",
        ]
        with initialize_config_dir(config_dir=CONF, version_base="1.3"):
            cfgs = {
                p: compose("train", overrides=[*common, f"precision={p}"]) for p in ("fp32", "bf16")
            }
            mnist1d = compose("train", overrides=["device=cuda"])
        speeds: dict[str, list[float]] = {"fp32": [], "bf16": []}
        for r in range(a.repeats):
            for p in ("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32"):
                out = tmp / f"{p}{r}"
                run(cfgs[p], out)
                speeds[p].append(images_per_s(out, 45_000, a.batch_size))
        for p, v in speeds.items():
            print(
                f"{a.model} cifar10-format {p} channels_last: median {statistics.median(v):.0f} img/s (min {min(v):.0f}, max {max(v):.0f})"
            )
        ratios = [b / f for b, f in zip(speeds["bf16"], speeds["fp32"], strict=True)]
        print(
            f"bf16/fp32 speed ratio: median {statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}) over {a.repeats} repeats"
        )
        t0 = time.perf_counter()
        run(mnist1d, tmp / "mnist1d")
        s = json.loads((tmp / "mnist1d" / "summary.json").read_text())
        print(
            f"default mnist1d cnn1d one-cycle on cuda: {s['epochs']} epochs in {time.perf_counter() - t0:.2f} s, "
            f"best_val_acc {s['best_val_acc']:.4f}, test_acc {s['test_acc']:.4f}"
        )


if __name__ == "__main__":
    main()
