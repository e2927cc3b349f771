"""How well a short rung run ranks settings as their full run does (issue 28, item 3).

For each suite task, ``--cells`` (max_lr, wd) cells of its dense grid are drawn at random (the
same draw for every rung length); each is trained once (seed 0) as a complete one-cycle run of
each rung length, a fraction of the task's full run (1/15, 1/5, 1/3 of 15 epochs: 1, 3, 5). Its
best validation accuracy is ranked against the cell's full-run mean over the grid's 3 seeds
(Spearman's rho, ties averaged; a diverged or collapsed run scores 0). A rung whose rho is low
promotes by noise. Held-out tasks are reported apart.

    python bench/rung_signal.py [--cells 24] [--tasks all]

Results and the command: BENCHMARKS.md, "Rungs that carry signal".
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import suite  # noqa: E402
from first_trial import means  # noqa: E402

FRACTIONS = (1 / 15, 1 / 5, 1 / 3)


def ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    sa = math.sqrt(sum((x - ma) ** 2 for x in ra))
    sb = math.sqrt(sum((y - mb) ** 2 for y in rb))
    return cov / (sa * sb) if sa and sb else math.nan


def short_run(name: str, lr: float, wd: float, epochs: int) -> float:
    task = suite.TASKS[name]
    s = suite.one_run([*task.overrides, f"epochs={epochs}", f"max_lr={lr}", f"wd={wd}", "seed=0"])
    v = s["best_val_acc"] if s["status"] == "completed" else 0.0
    return v if v is not None and math.isfinite(v) else 0.0


def one_task(name: str, cells: int) -> list[str]:
    _, rows = suite.read_grid(suite.OUT / f"{name}.csv")
    full = means(rows)
    picked = random.Random(0).sample(sorted(full), cells)
    target = [full[c] for c in picked]
    epochs = suite.TASKS[name].epochs
    out = []
    for fraction in FRACTIONS:
        n = max(1, round(fraction * epochs))
        got = [short_run(name, lr, wd, n) for lr, wd in picked]
        top = sorted(range(cells), key=lambda i: -got[i])[: max(1, cells // 3)]
        best_kept = max(target[i] for i in top) >= max(target) - 0.01
        out.append(
            f"| {name}{' (held out)' if suite.TASKS[name].held_out else ''} | {n} of {epochs} "
            f"({n / epochs:.0%}) | {spearman(got, target):+.2f} | "
            f"{'yes' if best_kept else 'no'} | {min(got):.2f}..{max(got):.2f} |"
        )
        print(out[-1], flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=24)
    p.add_argument("--tasks", default="all")
    a = p.parse_args()
    names = list(suite.TASKS) if a.tasks == "all" else a.tasks.split(",")
    print(
        f"| task | rung epochs (share of the full run) | Spearman rho vs full run, {a.cells} cells "
        "| top third keeps a cell within 1 pt of the best | rung scores |"
    )
    print("|---|---|---|---|---|")
    for name in names:
        one_task(name, a.cells)


if __name__ == "__main__":
    main()
