"""The default search against a hydra-optuna-sweeper user's baseline, on the task suite.

    python bench/search_suite.py run --seeds 0 1 2 [--tasks ...] [--arms ...] [--parallel 2]
    python bench/search_suite.py table          # the table for BENCHMARKS.md
    python bench/search_suite.py goals          # issue 28's goals, ours vs the finishing peer
    python bench/search_suite.py regret [--plot DIR]   # issue 35: each answer's expected quality

Arms, each a real sweep through the app (``python -m tasks.train -m ...``), 20 trials, the
task's epochs, sampler seed = the arm's seed:

- ``default``: ``sweep=lr_wd`` as shipped (range test first, max_lr from its bounds widened
  by ``bounds_margin``, wd 1e-5..1e-1, TPE, rungs of 1- and 3-epoch runs, successive halving);
- ``tpe_full``: TPE with full runs over the space a user would write (max_lr 1e-3..1,
  wd 1e-6..1e-1, log), no pruning: what a hydra-optuna-sweeper user runs;
- ``random_full``: random search in the same space;
- ``peer``: the real hydra-optuna-sweeper 1.3.0 in that space (its own Optuna 2.10 from
  ``SUPERSWEEP_PEER_SITE``); a NaN objective stops it, recorded as a crash with its pick so far;
- ``peer0``: the same with ``failed_objective=0`` (a diverged run returns 0, not NaN), so it
  finishes its 20 trials;
- ``prior`` / ``noprior`` / ``steps50``: the shipped default with the first trial's wd prior on
  or off, and with rungs of at least 50 optimizer steps (issue 28);
- ``timescale``: the default in timescale coordinates (max_lr, lr x wd), wd derived per run.

Target: the task's dense grid's best cell (mean validation accuracy over its 3 seeds) by its
mean ``test_acc_at_best``, minus 1 point. The pick is the full run with the best validation
accuracy; an arm reaches the target when its pick's ``test_acc_at_best`` does. Epochs and wall
time to target count from the sweep's start until the best-so-far pick first reaches it, the
auto range test's iterations included (as epochs of the task); medians are over every seed,
one that never reached the target counting as infinite (a median can be "never"). Results
stored before this accounting (the range test left out) are marked in BENCHMARKS.md. Results: ``bench/suite/search.json`` (appended run by run).

Issue 35: ``run`` now stores every sweep's runs and searched ranges in
``bench/suite/answers.json`` (``--into search`` for the old file), and ``regret`` replays each
arm's answer at every point of its sweep against the task's dense grid (``bench/regret.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import regret  # noqa: E402
import suite  # noqa: E402

ROOT = suite.ROOT
RESULTS = suite.OUT / "search.json"
ANSWERS = suite.OUT / "answers.json"  # issue 35: sweeps with their runs, read by `regret`
WIDE = ("max_lr=tag(log, interval(1e-3, 1))", "wd=tag(log, interval(1e-6, 1e-1))")
PEER = ("hydra/sweeper=optuna", "hydra.sweeper.direction=maximize", "hydra.sweeper.n_jobs=1", *WIDE)
ARMS = {
    "default": ("sweep=lr_wd",),  # full runs since issue 35 (its stored rows: see `rungs`)
    # the default until issue 35: TPE + rungs of complete 1- and 3-epoch runs, successive
    # halving (answers.json's rows of this arm ran as "default" at fa50f0b's preset)
    "rungs": (
        "sweep=lr_wd",
        "hydra/sweeper/supersweep_scheduler=rungs",
        "hydra/sweeper/supersweep_pruner=successive_halving",
    ),
    # issue 28: the shipped default again once the first trial got its wd prior (the stored
    # "default" rows predate it), and the same with rungs of at least 50 optimizer steps
    "prior": ("sweep=lr_wd",),
    "steps50": ("sweep=lr_wd", "hydra.sweeper.scheduler.min_rung_steps=50"),
    "noprior": ("sweep=lr_wd", "hydra.sweeper.space.first_timescale=null"),
    # issue 28 item 4: timescale coordinates, the sampler searches (max_lr, lr x wd) and each
    # run's wd is derived (wd = lr_x_wd / max_lr): the band of decay timescales 1/(lr x wd)
    # that the suite grids' best cells lie along becomes a box; the range spans the suite's
    # bands (lr x wd 8e-5..4e-3) with a decade to spare on each side
    "timescale": (
        "sweep=lr_wd",
        "~hydra.sweeper.params.wd",
        "+hydra.sweeper.params.lr_x_wd='tag(log, interval(1e-6, 1e-2))'",
        "hydra.sweeper.space.product_param=lr_x_wd",
    ),
    # rung schemes on the same seeded space (issue 28, item 3): no rungs, one 3-epoch rung, ASHA
    "norungs": (
        "sweep=lr_wd",
        "hydra/sweeper/supersweep_scheduler=full",
        "hydra/sweeper/supersweep_pruner=none",
    ),
    # issue 35: full runs with the last 5 of 20 trials repeating the model's recommendation
    # with other run seeds (scheduler.replicates)
    "replicate": (
        "sweep=lr_wd",
        "hydra/sweeper/supersweep_scheduler=full",
        "hydra/sweeper/supersweep_pruner=none",
        "hydra.sweeper.scheduler.replicates=5",
    ),
    # successive halving that keeps the best half of each rung instead of the best third
    "eta2": ("sweep=lr_wd", "hydra.sweeper.pruner.reduction_factor=2"),
    "rung3": ("sweep=lr_wd", "hydra.sweeper.scheduler.rungs=[3]"),
    "asha": (
        "sweep=lr_wd",
        "hydra/sweeper/supersweep_scheduler=asha",
        "hydra/sweeper/supersweep_pruner=none",
    ),
    # the real peer: hydra-optuna-sweeper 1.3.0 (TPE, full runs, the same wide space), from a
    # --target dir of its own with its Optuna 2.10 (PEER_SITE, below); it stops the whole sweep
    # on a NaN objective (a diverged run): recorded as a crash, its pick so far kept
    "peer": PEER,
    # the peer's second arm: a failed run returns 0 (failed_objective=0) so the peer finishes
    "peer0": (*PEER, "failed_objective=0"),
    # issue 35 item 3: GP proposals (Optuna's GPSampler) with full runs and with the rungs, on
    # the seeded space
    "gp_full": (
        "sweep=lr_wd",
        "hydra/sweeper/supersweep_sampler=gp",
        "hydra/sweeper/supersweep_scheduler=full",
        "hydra/sweeper/supersweep_pruner=none",
    ),
    "gp_rungs": (
        "sweep=lr_wd",
        "hydra/sweeper/supersweep_sampler=gp",
        "hydra/sweeper/supersweep_scheduler=rungs",
        "hydra/sweeper/supersweep_pruner=successive_halving",
    ),
    # issue 35 item 3: promotion by the study's model (its predicted full-run value with its
    # uncertainty) instead of the rung's rank; hedged brackets: every 3rd trial skips the rungs
    "model_rungs": ("sweep=lr_wd", "hydra/sweeper/supersweep_scheduler=model_rungs"),
    "hedged": (
        "sweep=lr_wd",
        "hydra/sweeper/supersweep_scheduler=rungs",
        "hydra/sweeper/supersweep_pruner=successive_halving",
        "hydra.sweeper.scheduler.straight_every=3",
    ),
    "tpe_full": ("hydra/sweeper=supersweep", *WIDE),
    "random_full": (
        "hydra/sweeper=supersweep",
        "hydra/sweeper/supersweep_sampler=random",
        *WIDE,
    ),
}
N_TRIALS = 20
# pip install --no-deps --target <dir> hydra-optuna-sweeper==1.3.0 optuna==2.10.1 'sqlalchemy<2'
#     'alembic<1.14' cliff cmaes colorlog    (then: SUPERSWEEP_PEER_SITE=<dir>)
PEER_SITE = os.environ.get("SUPERSWEEP_PEER_SITE", "")


def target(name: str) -> float:
    _, rows = suite.read_grid(suite.OUT / f"{name}.csv")
    return suite.best_cell(rows)["test"] - 0.01


def one(name: str, arm: str, seed: int) -> dict:
    task = {**suite.TASKS, **suite.WALL_TASKS}[name]
    with tempfile.TemporaryDirectory() as d:
        sweep = Path(d) / "sweep"
        cmd = [
            sys.executable, "-m", "tasks.train", "-m", *ARMS[arm], *task.overrides,
            f"epochs={task.epochs}", *suite.RUNTIME, "checkpoint.every=0",
            f"hydra.sweeper.n_trials={N_TRIALS}", f"hydra.sweeper.sampler.seed={seed}",
            f"hydra.sweeper.storage=sqlite:///{d}/s.db", f"hydra.sweep.dir={sweep}",
        ]  # fmt: skip
        peer = arm.startswith("peer")
        if peer and not PEER_SITE:
            raise SystemExit("the peer arm needs SUPERSWEEP_PEER_SITE (see PEER_SITE)")
        path = f"{PEER_SITE}{os.pathsep}{ROOT}" if peer else str(ROOT)
        t0 = time.time()
        p = subprocess.run(
            cmd, cwd=d, check=not peer, capture_output=True, env={**os.environ, "PYTHONPATH": path}
        )
        wall = time.time() - t0
        crash = {}
        if p.returncode:  # the peer's own stop (a NaN objective): what it finished still counts
            lines = [x for x in p.stderr.decode().splitlines() if x.strip()]
            crash = {"crashed": (lines[-1] if lines else f"exit {p.returncode}")[:300]}
        timed = timeline(sweep, t0, task.epochs, suite.steps_per_epoch(task))
        ranges = regret.WIDE_RANGES if peer else regret.searched_ranges(f"sqlite:///{d}/s.db")
        runs = regret.job_runs(sweep, t0, task.epochs)
        return {"wall_s": wall, **crash, **timed, "runs": runs, "ranges": ranges}


def range_test_epochs(sweep: Path, steps_per_epoch: int) -> tuple[float, float | None]:
    """The auto range test's cost in epochs (its iterations over the task's steps per epoch)
    and when it ended; (0, None) for an arm without one."""
    path = sweep / "range_test" / "range_test.json"
    if not path.is_file():
        return 0.0, None
    result = json.loads(path.read_text())
    iterations = result.get("iterations") or len(result.get("lrs", []))
    return iterations / steps_per_epoch, path.stat().st_mtime


def timeline(sweep: Path, t0: float, full: int, steps_per_epoch: int) -> dict:
    """Runs in the order they finished: epochs and seconds spent until each (the range test
    first), and the pick so far (the full run with the best validation accuracy) with its test
    accuracy."""
    runs = sorted(
        (f.stat().st_mtime, json.loads(f.read_text())) for f in sweep.glob("*/summary.json")
    )
    spent, ended = range_test_epochs(sweep, steps_per_epoch)
    best, steps = None, [] if ended is None else [[spent, ended - t0, None]]
    for mtime, s in runs:
        spent += s.get("epochs") or 0
        is_full = s.get("status") == "completed" and s.get("epochs") == full
        if is_full and (best is None or s["best_val_acc"] > best["best_val_acc"]):
            best = s
        steps.append([spent, mtime - t0, None if best is None else best["test_acc_at_best"]])
    return {
        "timeline": steps,
        "epochs": spent,
        "pick_val": None if best is None else best["best_val_acc"],
        "pick_test": None if best is None else best["test_acc_at_best"],
    }


def run(tasks: list[str], arms: list[str], seeds: list[int], parallel: int, path: Path) -> None:
    results = json.loads(path.read_text()) if path.exists() else {}
    todo = [(n, a, s) for s in seeds for n in tasks for a in arms if f"{n}/{a}/{s}" not in results]

    def go(job):
        n, a, s = job
        r = one(n, a, s)
        results[f"{n}/{a}/{s}"] = r
        path.write_text(json.dumps(results, indent=0, sort_keys=True))
        print(
            n,
            a,
            s,
            f"pick test {r['pick_test']}",
            f"{r['epochs']} epochs {r['wall_s']:.0f}s",
            flush=True,
        )

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(go, todo))


def to_target(r: dict, goal: float) -> tuple[float, float]:
    """Epochs and seconds until the pick first reached the target; never: infinite."""
    hit = next((t for t in r["timeline"] if t[2] is not None and t[2] >= goal), None)
    return (math.inf, math.inf) if hit is None else (hit[0], hit[1])


def arm_runs(results: dict, name: str, arm: str) -> list[dict]:
    return [v for k, v in results.items() if k.startswith(f"{name}/{arm}/")]


def hits(rs: list[dict], goal: float) -> tuple[list[bool], list[tuple[float, float]]]:
    """Per seed: whether the final pick reached the target, and the epochs and seconds until
    its pick first did (infinite for a seed that never did, so a median can be "never")."""
    reached = [(r["pick_test"] or 0) >= goal for r in rs]
    when = [
        to_target(r, goal) if ok else (math.inf, math.inf)
        for r, ok in zip(rs, reached, strict=True)
    ]
    return reached, when


def med(xs: list[float]) -> str:
    if not xs:
        return "-"
    m = statistics.median(xs)
    return "never" if m == math.inf else f"{m:.0f}"


def table() -> None:
    results = json.loads(RESULTS.read_text())
    print(
        "| task | arm | seeds | reached | median epochs to target | median wall to target (s) | median pick test | median total epochs | median total wall (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, task in suite.TASKS.items():
        goal = target(name)
        for arm in ARMS:
            rs = arm_runs(results, name, arm)
            if not rs:
                continue
            reached, when = hits(rs, goal)
            tag = " (held out)" if task.held_out else ""
            crashed = sum("crashed" in r for r in rs)
            shown = f"{arm} (crashed {crashed}/{len(rs)})" if crashed else arm
            print(
                f"| {name}{tag} | {shown} | {len(rs)} | {sum(reached)}/{len(rs)} | "
                f"{med([h[0] for h in when])} | {med([h[1] for h in when])} | "
                f"{statistics.median([r['pick_test'] or 0 for r in rs]):.3f} | "
                f"{med([r['epochs'] for r in rs])} | {med([r['wall_s'] for r in rs])} |"
            )
        print(f"| {name} | target (grid best - 1 pt) | | {goal:.3f} | | | | | |")


def goals(ours: str = "noprior", peer: str = "peer0") -> None:
    """Issue 28's goals per task, ours against the peer that finishes (failed runs return 0):
    reach >= 9/10; median epochs to target <= the range test plus two full runs; median wall to
    target <= 0.5x the peer's where the peer needs more than one full run, else <= 1.2x."""
    results = json.loads(RESULTS.read_text())
    print(
        "| task | reach, ours / peer | median epochs to target, ours (range test + 2 full runs) | "
        "peer's median epochs to target (full runs) | median wall to target, ours / peer (s) | wall goal |"
    )
    print("|---|---|---|---|---|---|")
    for name, task in suite.TASKS.items():
        goal = target(name)
        o, p = arm_runs(results, name, ours), arm_runs(results, name, peer)
        if not o or not p:
            continue
        (o_ok, o_when), (p_ok, p_when) = hits(o, goal), hits(p, goal)
        range_test = statistics.median(r["timeline"][0][0] for r in o)  # the first step
        o_wall = statistics.median(h[1] for h in o_when)
        p_wall = statistics.median(h[1] for h in p_when)
        p_epochs = statistics.median(h[0] for h in p_when)
        limit = 0.5 if p_epochs > task.epochs else 1.2
        ratio = o_wall / p_wall if math.isfinite(o_wall) and math.isfinite(p_wall) else math.nan
        met = (
            "met"
            if ratio <= limit
            else "not met"
            if math.isfinite(ratio) or math.isfinite(p_wall)
            else "neither reaches"
        )
        tag = " (held out)" if task.held_out else ""
        print(
            f"| {name}{tag} | {sum(o_ok)}/{len(o)} / {sum(p_ok)}/{len(p)} | "
            f"{med([h[0] for h in o_when])} ({range_test + 2 * task.epochs:.0f}) | "
            f"{med([h[0] for h in p_when])} ({p_epochs / task.epochs:.1f}) | "
            f"{med([h[1] for h in o_when])} / {med([h[1] for h in p_when])} | "
            f"<= {limit}x: {'-' if math.isnan(ratio) else f'{ratio:.2f}x'} {met} |"
        )


def wall(ours: str = "default", peer: str = "peer0") -> None:
    """Issue 35 item 5, on the tasks whose full run costs >= 30 s: each arm's whole-sweep wall
    and epochs per seed, the medians' ratio, and the picks' validation and test (no dense grid:
    quality is read from the picks themselves)."""
    results = json.loads(ANSWERS.read_text())
    print(
        "| task | arm | seeds | wall per seed (s) | median wall (s) | median epochs | pick val | pick test |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in suite.WALL_TASKS:
        medians = {}
        for arm in (ours, peer):
            rs = arm_runs(results, name, arm)
            if not rs:
                continue
            medians[arm] = statistics.median(r["wall_s"] for r in rs)
            walls = ", ".join(f"{r['wall_s']:.0f}" for r in rs)
            vals = ", ".join(f"{r['pick_val']:.4f}" for r in rs if r["pick_val"])
            tests = ", ".join(f"{r['pick_test']:.4f}" for r in rs if r["pick_test"])
            print(
                f"| {name} | {arm} | {len(rs)} | {walls} | {medians[arm]:.0f} | "
                f"{med([r['epochs'] for r in rs])} | {vals} | {tests} |"
            )
        if len(medians) == 2:
            print(
                f"| {name} | wall ratio ours / peer | | | {medians[ours] / medians[peer]:.2f}x | | | |"
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument(
        "--tasks", nargs="+", default=list(suite.TASKS), choices=[*suite.TASKS, *suite.WALL_TASKS]
    )
    r.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    r.add_argument("--seeds", nargs="+", type=int, default=list(range(10)))
    r.add_argument("--parallel", type=int, default=1)
    r.add_argument("--into", choices=["answers", "search"], default="answers")
    sub.add_parser("table")
    sub.add_parser("goals")
    sub.add_parser("wall", help="issue 35 item 5: wall and epochs, ours / the peer, costly task")
    g = sub.add_parser("regret")
    g.add_argument("--arms", nargs="+", default=regret.ARMS)
    g.add_argument("--plot", type=Path, default=None, help="anytime curves as PNG into this dir")
    a = p.parse_args()
    if a.cmd == "run":
        run(a.tasks, a.arms, a.seeds, a.parallel, ANSWERS if a.into == "answers" else RESULTS)
    elif a.cmd == "regret":
        regret.report(json.loads(ANSWERS.read_text()), a.arms, a.plot)
    else:
        {"table": table, "goals": goals, "wall": wall}[a.cmd]()


if __name__ == "__main__":
    main()
