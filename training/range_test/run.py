"""One LR range test from a composed config: build, run, analyse, write its files."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from training.checks import ConfigError, check_range_test_config
from training.range_test.finder import KNOBS, Recording, knobs, run_range_test
from training.range_test.plots import range_test_html
from training.range_test.suggest import RULES, analyze, suggested_max_lr
from training.runlog import write_json
from training.runner import prepare

log = logging.getLogger(__name__)


def range_test(cfg: DictConfig, out_dir: Path) -> dict:
    """Run the test that ``cfg`` describes and write its files; returns the JSON content."""
    check_range_test_config(cfg)
    data, stepper = prepare(cfg)  # a model of its own: nothing here touches a later run
    curve = run_range_test(stepper, data, batch_size=cfg.batch_size, **knobs(cfg))
    epochs = len(curve.lrs) * cfg.batch_size / data.n_train
    config = OmegaConf.to_container(cfg, resolve=True)
    steps = max(1, data.n_train // cfg.batch_size)
    return write_result(curve, cfg.num_iter, epochs, config, out_dir, steps_per_epoch=steps)


def write_result(
    curve: Recording,
    num_iter: int,
    epochs: float | None,
    config: Any,
    out_dir: Path | None,
    steps_per_epoch: int | None = None,
) -> dict:
    """The recording analysed (suggestions, bounds) as ``range_test.json``'s content, written
    with its figure into ``out_dir`` (None: not written): the one format the sweeper reads."""
    suggestions, bounds, message = analyze(curve.lrs, curve.smoothed_losses, num_iter)
    result = {
        "lrs": curve.lrs,
        "losses": curve.losses,
        "smoothed_losses": curve.smoothed_losses,
        "suggestions": suggestions,
        "suggestion_rules": {
            name: (rule.__doc__ or "").strip().splitlines()[0] for name, rule in RULES.items()
        },
        "suggested_max_lr": suggested_max_lr(bounds),
        "bounds": bounds,
        "diverged_at": curve.diverged_at,
        "stop_reason": curve.stop_reason,
        "message": message,
        "num_iter": num_iter,
        "iterations": len(curve.lrs),
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,  # of a training run on this data and batch size
        "seconds": curve.seconds,
        "val": curve.val,
        "config": config,
    }
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(out_dir / "range_test.json", result)
        range_test_html(result, out_dir / "range_test.html")
        log.info(summary_line(result, out_dir))
    if message:
        log.warning(message)
    return result


def summary_line(r: dict, out_dir: Path) -> str:
    fmt = lambda v: "n/a" if v is None else f"{v:.3g}"  # noqa: E731
    b = r["bounds"]
    stopped = (
        "no divergence" if r["diverged_at"] is None else f"stopped at lr {fmt(r['diverged_at'])}"
    )
    epochs = "" if r["epochs"] is None else f" = {r['epochs']:.2f} epochs"
    return (
        f"range test: suggested max_lr {fmt(r['suggested_max_lr'])}, search bounds "
        f"[{fmt(b['min_lr'])}, {fmt(b['max_lr'])}], {stopped}; {r['iterations']} iterations"
        f"{epochs} in {r['seconds']:.1f}s -> {out_dir / 'range_test.json'}"
    )


def config_for_run(
    run_cfg: DictConfig, settings: Mapping[str, Any], overrides: Sequence[str] = ()
) -> DictConfig:
    """The range test of a training run: its data, model, optimizer, wd and runtime, with the
    test's own ``settings`` (the keys of :data:`~training.range_test.finder.KNOBS`, e.g. from
    ``conf/range_test.yaml``) and then ``overrides`` (``["num_iter=200"]``) on top."""
    missing = [k for k in KNOBS if k not in settings]
    if missing:
        raise ValueError(f"range test settings lack {missing}; expected {list(KNOBS)}.")
    container = OmegaConf.to_container(run_cfg, resolve=False)
    assert isinstance(container, dict)
    cfg = OmegaConf.create({k: v for k, v in container.items() if k != "hydra"})
    for k in KNOBS:
        cfg[k] = settings[k]
    cfg.max_lr = cfg.end_lr  # optimizer configs read it; the test sets the lr every step
    for line in overrides:  # a typo must not vanish into a new key
        key = line.split("=", 1)[0]
        if OmegaConf.select(cfg, key, default=_MISSING) is _MISSING:
            close = difflib.get_close_matches(key, list(KNOBS), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(
                f"range test override {line!r}: {key} is not a setting of the range test; {hint}its own are {', '.join(KNOBS)}."
            )
    cfg.merge_with_dotlist(list(overrides))
    return cfg


_MISSING = object()
