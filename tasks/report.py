"""``python -m tasks.report``: a study's Pareto front, LR x WD balance map, history,
importances, curves and trials.csv, linked from one ``report.html``."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from tasks._cli import CONFIG_PATH, disk_errors_one_line, exit_on_config_error, preflight
from training.checks import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recorded:
    """The storage a sweep dir names: as the sweep was given it, or (``hidden``) only with its
    password hidden, which cannot open it."""

    storage: str
    hidden: bool


def _study_from_sweep_dir(sweep_dir: Path) -> tuple[str, Recorded] | None:
    """The study and storage (as the sweep was given it) a supersweep sweep dir names; None for a Hydra grid's dir."""
    path = sweep_dir.expanduser() / "optimization_results.yaml"
    if path.is_file():
        results = yaml.safe_load(path.read_text())
        hidden = results.get("storage_source") is None and results.get("storage_has_password")
        storage = results.get("storage_source") or results["storage"]
        return results["study_name"], Recorded(storage, bool(hidden))
    from reports import grid_job_dirs

    if grid_job_dirs(sweep_dir.expanduser()):
        return None
    raise ConfigError(
        f"sweep_dir: {path} not found and no */.hydra/overrides.yaml under {sweep_dir}: neither a sweep dir of the supersweep sweeper nor a Hydra multirun dir."
    )


def _storage(cfg: DictConfig, recorded: Recorded | None) -> tuple[str, str]:
    """``(url, how to show it)``: ``storage=`` as given (Hydra resolves ``${oc.env:VAR}``), else
    what the sweep dir recorded, else the default. The password is never shown."""
    from sweeper import default_url, resolve_reference, shown

    written = OmegaConf.to_container(cfg, resolve=False).get("storage")  # type: ignore[union-attr]
    if written is not None:
        raw, url = str(written), str(cfg.storage)
    elif recorded is not None:
        if recorded.hidden:
            raise ConfigError(
                f"sweep_dir: the sweep's storage {recorded.storage} has its password hidden; pass storage='${{oc.env:VAR}}' with the URL in VAR."
            )
        raw, url = recorded.storage, resolve_reference(recorded.storage)
    else:
        raw = url = default_url(create=False)
    return url, shown(raw, url)


def check_report_config(cfg: DictConfig) -> None:
    if cfg.images not in (None, True, False):
        raise ConfigError(
            f"images must be null (when a Chrome is found), true or false, got {cfg.images!r}."
        )
    for key in ("lr_param", "wd_param"):
        if not isinstance(cfg[key], str) or not cfg[key]:
            raise ConfigError(
                f"{key} must name a searched param (e.g. max_lr, wd), got {cfg[key]!r}."
            )


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="report")
def main(cfg: DictConfig) -> None:
    with (
        exit_on_config_error(),
        disk_errors_one_line(f"the report in {HydraConfig.get().runtime.output_dir}"),
    ):
        if cfg.range_tests is not None:
            from training.range_test import write_overlay

            write_overlay(Path(cfg.range_tests))
            return
        from reports import IMAGE_HINT, ReportError, find_study, write_grid_report, write_report
        from sweeper import StorageError

        study_name, recorded, grid = cfg.study_name, None, None
        if cfg.sweep_dir is not None:
            found = _study_from_sweep_dir(Path(cfg.sweep_dir))
            if found is None:
                grid = Path(cfg.sweep_dir).expanduser()
            else:
                study_name, recorded = found
        out = Path(HydraConfig.get().runtime.output_dir)
        kw = {
            "pareto_x": cfg.pareto_x,
            "pareto_y": cfg.pareto_y,
            "lr": cfg.lr_param,
            "wd": cfg.wd_param,
            "images": cfg.images,
        }
        try:
            if grid is not None:
                s = write_grid_report(grid, out, **kw)
            else:
                storage, storage_shown = _storage(cfg, recorded)
                study = find_study(study_name, storage)
                other = None
                if cfg.compare_with is not None:
                    try:
                        other = find_study(str(cfg.compare_with), storage)
                    except (ReportError, StorageError) as e:
                        raise ConfigError(f"compare_with: {e}") from None
                s = write_report(study, out, **kw, compare_with=other)
        except (ReportError, StorageError, ConfigError) as e:
            _leave_nothing(out)
            raise ConfigError(str(e)) from None
        for name, why in s["skipped"].items():
            log.info(f"{name}: not drawn ({why})")
        if not s["images"] and cfg.images is not False:  # asked for, or left to what is found
            log.info(IMAGE_HINT)
        what = "grid" if grid is not None else "study"
        _say(s, what, out / "report.html", None if grid is not None else storage_shown)
        if s.get("compare_with"):
            print(s["compare_with"]["sentence"])


def _leave_nothing(out: Path) -> None:
    """A report that stopped on bad input wrote nothing: its run dir (Hydra's own ``.hydra``
    and log file only) goes, and the dated dirs above it when that leaves them empty."""
    import shutil

    if any(p.suffix not in (".log", ".yaml") for p in out.rglob("*") if p.is_file()):
        return  # something of the report's own: keep it
    shutil.rmtree(out, ignore_errors=True)
    for parent in list(out.parents)[:3]:  # outputs/report/<date>/<time>: each, while empty
        try:
            parent.rmdir()
        except OSError:
            break


def _say(s: dict, what: str, page: Path, storage_shown: str | None) -> None:
    """The console's account of a report: where it is, the recommendation first."""
    counts = ", ".join(f"{n} {k}" for k, n in s["trials"].items())
    print(f"report of {what} {s['study_name']!r} ({counts}): {page}")
    if s.get("recommendation"):
        print(f"recommendation: {s['recommendation']['sentence']}")
    if "balance" in s:
        print(f"regularization balance: {s['balance']['verdict']}")
        if s.get("design_stop"):
            print(f"balance design stopped: {s['design_stop']}")
        for warning in s["balance"]["warnings"]:
            print(f"warning: {warning}")
    if storage_shown is not None:
        print(
            f"live dashboard: optuna-dashboard {storage_shown}  (then open http://127.0.0.1:8080)"
        )


def _images_wanted(args: list[str]) -> bool | None:
    """The command line's ``images=`` (null when not given), read before Hydra composes."""
    given = [a.partition("=")[2].lower() for a in args if a.lstrip("+").startswith("images=")]
    value = given[-1] if given else "null"
    return {"true": True, "false": False}.get(value)


if __name__ == "__main__":
    preflight("report", check_report_config)
    from reports import chrome

    if not any(a.startswith("range_tests=") for a in sys.argv[1:]):
        chrome.start(_images_wanted(sys.argv[1:]))  # in the background, while Hydra sets up
    try:
        main()
    finally:
        chrome.stop()
