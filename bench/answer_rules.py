"""How the search's answer is read from the model of its runs (issue 35): the shipped rule
against alternatives, replayed on every stored sweep of the task suite (no new training).

    python bench/answer_rules.py [--arms default replicate peer0 random_full gp_full]

For each stored sweep (``bench/suite/answers.json``: every run's max_lr, wd, value) the model
is fitted once (``analysis.surface.fit``, as the sweep fits it) and each rule picks a setting;
its expected regret is read from the task's dense grid (``bench/regret.py``). Rules:

- ``shipped``: ``analysis.recommend`` (the middle of the supported settings predicted within
  half the margin of the best prediction);
- ``argmax``: the supported setting with the best predicted mean;
- ``lcb``: the supported setting with the best mean - 1 sd (a setting the model is unsure of,
  near a cliff or far from runs, loses to one it knows);
- ``lcb_core``: the shipped middle-of-the-core rule on mean - 1 sd;
- ``best_run``: the best single full run (the peer's answer).

Held-out tasks are reported apart: a rule is chosen on the tuned-on tasks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import regret  # noqa: E402
import suite  # noqa: E402

from analysis.recommend import CORE, _centre, practical_margin, recommend  # noqa: E402

RULES = ("shipped", "argmax", "lcb", "lcb_core", "best_run")


def picks(s) -> dict[str, tuple[float, float]]:
    lrs, wds = s.mesh()
    lr_g, wd_g = np.meshgrid(lrs, wds)
    mean, sd = (a.reshape(lr_g.shape) for a in s.predict(lr_g.ravel(), wd_g.ravel()))
    sign = 1.0 if s.maximize else -1.0
    ok = s.supported(lr_g.ravel(), wd_g.ravel()).reshape(lr_g.shape)
    out = {}
    rec = recommend(s)
    out["shipped"] = (rec.max_lr, rec.wd)
    for name, score in (("argmax", sign * mean), ("lcb", sign * mean - sd)):
        i, j = np.unravel_index(np.argmax(np.where(ok, score, -np.inf)), score.shape)
        out[name] = (float(lrs[j]), float(wds[i]))
    lcb = sign * mean - sd
    ti, tj = np.unravel_index(np.argmax(np.where(ok, lcb, -np.inf)), lcb.shape)
    margin = practical_margin(s.metric, [r.value for r in s.runs])
    i, j = _centre(ok & (lcb >= lcb[ti, tj] - CORE * margin), int(ti), int(tj))
    out["lcb_core"] = (float(lrs[j]), float(wds[i]))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--arms", nargs="+", default=["default", "replicate", "peer0", "random_full"])
    a = p.parse_args()
    stored = json.loads((suite.OUT / "answers.json").read_text())
    by: dict[tuple[str, str, str], list[float]] = {}
    for key, rec in sorted(stored.items()):
        task, arm, _ = key.split("/")
        if arm not in a.arms or task not in suite.TASKS:
            continue
        grid = regret.Grid(task)
        full = max(r[2] for r in rec["runs"])
        fitted = regret.model_fit(rec["runs"], rec["ranges"], full)
        if fitted is None:
            continue
        got = picks(fitted[0])
        got["best_run"] = regret.best_run_answer(rec["runs"], full)
        for rule, answer in got.items():
            by.setdefault((task, arm, rule), []).append(grid.regret(answer)[1])
    print("median test regret (points) [mean], by rule; n = sweeps")
    print("| task | arm | n | " + " | ".join(RULES) + " |")
    print("|---|---|---|" + "---|" * len(RULES))
    for task in suite.TASKS:
        tag = " (held out)" if suite.TASKS[task].held_out else ""
        for arm in a.arms:
            cols = [by.get((task, arm, r)) for r in RULES]
            if not cols[0]:
                continue
            cells = [f"{statistics.median(c):.2f} [{statistics.mean(c):.2f}]" for c in cols if c]
            print(f"| {task}{tag} | {arm} | {len(cols[0])} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
