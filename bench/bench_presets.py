"""The numbers behind the ``expected:`` block of each MNIST-1D preset in ``conf/experiment/``.

Runs each preset for several seeds in this process (1 thread, CPU), selects on validation
as every run does, and prints best validation accuracy, its epoch and the test accuracy
(mean, standard deviation and range over seeds) as a Markdown table for BENCHMARKS.md.

    python bench/bench_presets.py [--seeds 0 1 2] [--presets super_convergence_mnist1d step_baseline_mnist1d]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir

from training.runner import run

CONF = str(Path(__file__).resolve().parents[1] / "conf")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument(
        "--presets", nargs="+", default=["super_convergence_mnist1d", "step_baseline_mnist1d"]
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(
        "| preset | epochs | seeds | best val_acc | best epoch | test_acc (mean +- sd [min, max]) |"
    )
    print("|---|---|---|---|---|---|")
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        for preset in args.presets:
            summaries = []
            for seed in args.seeds:
                cfg = compose(
                    "train",
                    overrides=[f"experiment={preset}", f"seed={seed}", "device=cpu", "threads=1"],
                )
                with tempfile.TemporaryDirectory() as d:
                    run(cfg, Path(d))
                    summaries.append(json.loads((Path(d) / "summary.json").read_text()))
            val = [s["best_val_acc"] for s in summaries]
            test = [s["test_acc"] for s in summaries]
            epochs = [s["best_epoch"] for s in summaries]
            sd = statistics.stdev(test) if len(test) > 1 else 0.0
            print(
                f"| {preset} | {cfg.epochs} | {len(summaries)} | {statistics.mean(val):.4f} | {statistics.median(epochs):g} | "
                f"{statistics.mean(test):.4f} +- {sd:.4f} [{min(test):.4f}, {max(test):.4f}] |",
                flush=True,
            )


if __name__ == "__main__":
    main()
