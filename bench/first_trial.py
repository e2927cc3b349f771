"""Where the search's first trial lands: the range test's suggested max_lr with the weight decay
a decay-timescale prior gives it, against each suite grid's best.

The prior: the first trial's wd makes the decay timescale 1/(max_lr x wd) a fixed multiple
``tau`` of the run's optimizer steps (``hydra.sweeper.space.first_timescale``). Two modes:

- ``fit`` (seconds, no training): for each candidate tau, the grid's cell means (3 seeds) read
  at the suggested max_lr (log-linear between the two levels around it) and at the prior's wd
  (log-linear between wd points); "lands" = within 1 point of the grid's best cell mean. Only the
  tuned-on tasks choose tau (the widest run of candidates that lands on most of them, its
  geometric middle); the held-out tasks are reported apart.
- ``ladder``: tau chosen from real first runs instead, on the tuned-on tasks only, over half-
  decade candidates (``--seeds`` training seeds each): the grids' cells lie on a coarse lr ladder
  around the suggestion, and reading between them misjudges a narrow optimum.
- ``real``: the first trial trained for real on every task, ``--seeds`` training seeds each,
  with the chosen tau (and, for comparison, with the wd a sampler's first draw would give:
  log-uniform over the searched wd range, one draw per seed).

    python bench/first_trial.py fit
    python bench/first_trial.py ladder --seeds 3
    python bench/first_trial.py real --seeds 10 [--tau 3] [--tasks a,b]

Results and the command: BENCHMARKS.md, "The first trial".
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import suite  # noqa: E402

TAUS = [10 ** (k / 4) for k in range(-8, 13)]  # 0.01 .. 1000 runs, quarter decades
WD_RANGE = (1e-5, 1e-1)  # the presets' searched wd (conf/sweep/lr_wd.yaml)


def means(rows: list[dict]) -> dict[tuple[float, float], float]:
    cells: dict[tuple[float, float], list[float]] = defaultdict(list)
    for r in rows:
        ok = r["status"] == "completed" and math.isfinite(r["best_val_acc"])
        cells[(r["max_lr"], r["wd"])].append(r["best_val_acc"] if ok else 0.1)
    return {k: statistics.fmean(v) for k, v in cells.items()}


def _interp(x: float, xs: list[float], ys: list[float]) -> float:
    """Linear in log10 x between the points around it (the ends beyond them)."""
    lx = [math.log10(v) for v in xs]
    t = math.log10(x)
    if t <= lx[0]:
        return ys[0]
    if t >= lx[-1]:
        return ys[-1]
    i = next(k for k in range(1, len(lx)) if lx[k] >= t)
    f = (t - lx[i - 1]) / (lx[i] - lx[i - 1])
    return ys[i - 1] + f * (ys[i] - ys[i - 1])


def read_at(m: dict[tuple[float, float], float], lr: float, wd: float) -> float:
    lrs = sorted({k[0] for k in m})
    wds = sorted({k[1] for k in m})
    per_lr = [_interp(wd, wds, [m[(a, w)] for w in wds]) for a in lrs]
    return _interp(lr, lrs, per_lr)


def task_facts(name: str) -> dict:
    task = suite.TASKS[name]
    header, rows = suite.read_grid(suite.OUT / f"{name}.csv")
    lo, hi = float(header["range_test_min_lr"]), float(header["range_test_max_lr"])
    return {
        "lr": math.sqrt(lo * hi),  # training.range_test.suggested_max_lr
        "steps": suite.steps_per_epoch(task) * task.epochs,
        "means": means(rows),
        "held_out": task.held_out,
    }


def prior_wd(lr: float, steps: int, tau: float) -> float:
    return 1.0 / (lr * tau * steps)


def fit() -> float:
    facts = {name: task_facts(name) for name in suite.TASKS}
    lands: dict[float, list[str]] = {}
    print("| task | suggested max_lr | grid best | taus (runs) that land within 1 point |")
    print("|---|---|---|---|")
    for name, f in facts.items():
        best = max(f["means"].values())
        ok = [
            t
            for t in TAUS
            if read_at(f["means"], f["lr"], prior_wd(f["lr"], f["steps"], t)) >= best - 0.01
        ]
        for t in ok:
            if not f["held_out"]:
                lands.setdefault(t, []).append(name)
        span = f"{min(ok):.3g}..{max(ok):.3g} ({len(ok)} of {len(TAUS)})" if ok else "none"
        tag = " (held out)" if f["held_out"] else ""
        print(f"| {name}{tag} | {f['lr']:.3g} | {best:.3f} | {span} |")
    most = max((len(v) for v in lands.values()), default=0)
    top = [t for t in TAUS if len(lands.get(t, [])) == most]
    tau = math.sqrt(top[0] * top[-1]) if top else 1.0
    print(
        f"\ntuned-on tasks landing: at most {most}; tau {top[0]:.3g}..{top[-1]:.3g}: chosen {tau:.3g}"
    )
    return tau


def first_run(name: str, f: dict, wd: float, seed: int) -> float:
    """The first trial trained for real: its best validation accuracy (0 if it failed)."""
    task = suite.TASKS[name]
    s = suite.one_run(
        [*task.overrides, f"epochs={task.epochs}", f"max_lr={f['lr']}", f"wd={wd}", f"seed={seed}"]
    )
    v = s["best_val_acc"] if s["status"] == "completed" else 0.0
    return v if v is not None and math.isfinite(v) else 0.0


def ladder(seeds: int) -> float:
    """tau chosen from real first runs on the tuned-on tasks (the grids' cells lie on a coarse
    lr ladder around the suggestion, and reading between them misjudges a narrow optimum): each
    candidate, ``seeds`` training seeds a task; the tau landing most often, the geometric middle
    of the candidates that tie."""
    names = [n for n, t in suite.TASKS.items() if not t.held_out]
    facts = {n: task_facts(n) for n in names}
    candidates = TAUS[4::2]  # 0.1 .. 1000, half decades
    hits: dict[float, int] = {}
    print("| tau (runs) | " + " | ".join(names) + " | all |")
    print("|---|" + "---|" * (len(names) + 1))
    for tau in candidates:
        row = []
        for n in names:
            f = facts[n]
            target = max(f["means"].values()) - 0.01
            wd = prior_wd(f["lr"], f["steps"], tau)
            row.append(sum(first_run(n, f, wd, seed) >= target for seed in range(seeds)))
        hits[tau] = sum(row)
        print(
            f"| {tau:.3g} | " + " | ".join(f"{h}/{seeds}" for h in row) + f" | {hits[tau]} |",
            flush=True,
        )
    most = max(hits.values())
    top = [t for t in candidates if hits[t] == most]
    tau = math.sqrt(top[0] * top[-1])
    print(
        f"\nmost landings {most} of {seeds * len(names)} at tau {top[0]:.3g}..{top[-1]:.3g}: chosen {tau:.3g}"
    )
    return tau


def real(tau: float, seeds: int, names: list[str]) -> None:
    print(
        "| task | arm | first-trial wd | lands (within 1 pt of grid best) | best_val_acc median [min, max] |"
    )
    print("|---|---|---|---|---|")
    rng = random.Random(0)
    for name in names:
        f = task_facts(name)
        target = max(f["means"].values()) - 0.01
        draws = [
            10 ** rng.uniform(math.log10(WD_RANGE[0]), math.log10(WD_RANGE[1]))
            for _ in range(seeds)
        ]
        arms = {
            f"prior tau={tau:.3g}": [prior_wd(f["lr"], f["steps"], tau)] * seeds,
            "sampled wd (log-uniform)": draws,
        }
        for arm, wds in arms.items():
            values = [first_run(name, f, wd, seed) for seed, wd in enumerate(wds)]
            hit = sum(v >= target for v in values)
            shown = f"{wds[0]:.2g}" if len(set(wds)) == 1 else "drawn per seed"
            tag = " (held out)" if f["held_out"] else ""
            print(
                f"| {name}{tag} | {arm} | {shown} | {hit}/{seeds} | "
                f"{statistics.median(values):.3f} [{min(values):.3f}, {max(values):.3f}] |",
                flush=True,
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["fit", "ladder", "real"])
    p.add_argument("--tau", type=float, default=None)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--tasks", default="all")
    a = p.parse_args()
    if a.mode == "ladder":
        ladder(a.seeds)
        return
    tau = fit() if a.tau is None else a.tau
    if a.mode == "real":
        names = list(suite.TASKS) if a.tasks == "all" else a.tasks.split(",")
        real(tau, a.seeds, names)


if __name__ == "__main__":
    main()
