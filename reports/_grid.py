"""A Hydra basic-sweeper grid (``python -m tasks.train -m max_lr=... wd=...``) read as report rows.

Each job dir holds ``.hydra/overrides.yaml`` (the job's overrides), ``.hydra/config.yaml``
(its composed config) and, if it finished, ``summary.json``. Files are read as data
(``yaml.safe_load``, Hydra's override grammar for values): nothing in them is executed.
"""

from __future__ import annotations

import logging
import math
import shlex
from pathlib import Path
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser

from reports._study_data import ReportError, Row, job_curve
from training.contract import OBJECTIVES, STOPPED, SummaryError, read_summary

__all__ = ["grid_job_dirs", "grid_num_classes", "grid_rows"]

log = logging.getLogger(__name__)


def grid_job_dirs(sweep_dir: Path) -> list[Path]:
    """The job dirs of a Hydra multirun dir, in job order (numeric names first)."""
    dirs = [p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")]
    return sorted(
        dirs, key=lambda d: (not d.name.isdigit(), int(d.name) if d.name.isdigit() else 0, d.name)
    )


def _overrides(job_dir: Path) -> tuple[list[str], dict[str, Any]]:
    lines = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text()) or []
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        raise ReportError(
            f"{job_dir / '.hydra' / 'overrides.yaml'} is not a list of override strings."
        )
    params = {}
    for o in OverridesParser.create().parse_overrides(lines):
        value = o.value()
        if not o.is_sweep_override() and isinstance(value, (int, float, str, bool)):
            params[o.get_key_element().lstrip("+~")] = value
    return lines, params


def _searchpath(job_dir: Path) -> list[str]:
    """The job's ``hydra.searchpath=...`` override (a user's own config dir), for its replay."""
    hydra_file = job_dir / ".hydra" / "hydra.yaml"
    cfg = yaml.safe_load(hydra_file.read_text()) if hydra_file.is_file() else None
    lines = (((cfg or {}).get("hydra") or {}).get("overrides") or {}).get("hydra") or []
    return [
        x for x in lines if isinstance(x, str) and x.lstrip("+").startswith("hydra.searchpath=")
    ]


def grid_num_classes(sweep_dir: Path) -> int | None:
    """``data.num_classes`` of the grid's first job (all jobs of a grid share the data)."""
    for job_dir in grid_job_dirs(sweep_dir)[:1]:
        config_file = job_dir / ".hydra" / "config.yaml"
        config = yaml.safe_load(config_file.read_text()) if config_file.is_file() else {}
        data = config.get("data") if isinstance(config, dict) else None
        n = data.get("num_classes") if isinstance(data, dict) else None
        return n if isinstance(n, int) else None
    return None


def grid_rows(sweep_dir: Path, lr: str, wd: str) -> tuple[list[Row], str]:
    """Rows for every job of the grid, and the objective its runs returned.

    A job's ``lr``/``wd`` come from its overrides, else from its composed config (a grid
    over wd alone still has each run's max_lr).
    """
    rows, objectives = [], set()
    for i, job_dir in enumerate(grid_job_dirs(sweep_dir)):
        lines, params = _overrides(job_dir)
        config_file = job_dir / ".hydra" / "config.yaml"
        config = yaml.safe_load(config_file.read_text()) if config_file.is_file() else {}
        for key in (lr, wd):
            if (
                key not in params
                and isinstance(config, dict)
                and isinstance(config.get(key), (int, float))
            ):
                params[key] = config[key]
        try:
            s = read_summary(job_dir)
        except SummaryError as e:  # one bad file (a full disk) does not sink the report
            log.warning(f"{e}: job counted as failed")
            s = None
        number = int(job_dir.name) if job_dir.name.isdigit() else i
        replay = " ".join(
            ["python -m tasks.train", *map(shlex.quote, [*_searchpath(job_dir), *lines])]
        )
        if s is None:
            rows.append(
                Row(
                    number,
                    "fail",
                    "failed",
                    params,
                    None,
                    None,
                    None,
                    None,
                    "no summary.json: the job crashed or was killed",
                    str(job_dir),
                    replay,
                )
            )
            continue
        objectives.add(s.get("objective"))
        raw = s.get("objective_value")
        value = float(raw) if isinstance(raw, (int, float)) and math.isfinite(raw) else None
        state = (
            "pruned" if s.get("status") in STOPPED else "complete" if value is not None else "fail"
        )
        rows.append(
            Row(
                number,
                state,
                s.get("status") or state,
                params,
                [value] if state == "complete" and value is not None else None,
                s.get("epochs"),
                s.get("wall_s"),
                s.get("test_acc"),
                s.get("reason"),
                str(job_dir),
                replay,
                job_curve(str(job_dir)) or [],
                s.get("test_acc_at_best"),
                s.get("steps"),
            )
        )
    if not rows:
        raise ReportError(f"{sweep_dir} holds no job dirs (*/.hydra/overrides.yaml).")
    named = sorted(o for o in objectives if o in OBJECTIVES)
    if len(named) != 1:
        raise ReportError(
            f"the runs in {sweep_dir} do not share one objective (found {sorted(map(str, objectives))}); report them apart."
        )
    _drop_unswept(rows, keep=(lr, wd))
    return rows, named[0]


def _drop_unswept(rows: list[Row], keep: tuple[str, ...]) -> None:
    """A key every job of the grid set to the same value (``data=digits``, ``epochs=1``) is the
    grid's setting, not a param it searched: left out of the rows' params (``keep``: the keys
    the balance map reads even when constant)."""
    if len(rows) < 2:
        return
    keys = {k for r in rows for k in r.params}
    unswept = {k for k in keys - set(keep) if len({repr(r.params.get(k)) for r in rows}) == 1}
    for r in rows:
        for k in unswept:
            r.params.pop(k, None)
