"""One training run from a composed config: build, fit, evaluate, write files.

``run`` is what ``tasks.train`` calls for every Hydra job; it is a plain function
so that sweepers and tests can call it in-process. Whoever launches it passes its
epoch callbacks in (the sweeper's pruning reporter, for one).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from training import checkpoint
from training.augment import Augment
from training.averaging import Averaging
from training.best import BestWeights, Evaluation
from training.checkpoint import Checkpointer, FinalWeights
from training.checks import ConfigError, check_once, check_train_config, user_code
from training.contract import COLLAPSE_FACTOR, FAILED_RUNS, OBJECTIVES, RunStatus, RunSummary
from training.data import Data, DataSourceError, load_splits
from training.data.vision import UnsafeDataFile
from training.loop import FitResult, Preempted, Stepper, evaluate, fit
from training.lr_estimate import SecantLrEstimate
from training.optim import step_parts
from training.parts import RunPart
from training.preemption import StopSignals
from training.runlog import MetricsFile, Progress, write_json
from training.runtime import numerics, resolve_device, resolve_precision, seed_everything
from training.schedules import Schedule, with_warmup
from training.tracking import make_trackers

log = logging.getLogger(__name__)


def summarize(
    result: FitResult,
    test: Evaluation,
    test_at_best: Evaluation,
    wall_s: float,
    objective: str,
    raw_test: Evaluation = (None, None),
    numerics: dict | None = None,
) -> dict:
    """``summary.json``: selection metrics from validation only; test reported apart, for the
    final model and for the model of the best validation epoch (never used to select). With
    weight averaging these are the averaged model's, and ``raw_*`` the raw weights'. The run's
    status is ``judge``'s, settled before any part saw the end."""
    h = result.history
    with_val = [m for m in h if m["val_acc"] is not None]
    best = max(with_val, key=lambda m: m["val_acc"], default=None)
    values = {
        "best_val_acc": best["val_acc"] if best else None,
        "final_val_acc": with_val[-1]["val_acc"] if with_val else None,
        "best_val_loss": min((m["val_loss"] for m in with_val), default=None),
        "final_val_loss": with_val[-1]["val_loss"] if with_val else None,
    }
    value = values[objective]
    return RunSummary(
        status=result.status,
        reason=result.reason,
        objective=objective,
        best_epoch=best["epoch"] if best else None,
        **values,
        test_loss=test[0],
        test_acc=test[1],
        test_loss_at_best=test_at_best[0],
        test_acc_at_best=test_at_best[1],
        raw_best_val_acc=max(
            (m["raw_val_acc"] for m in h if m.get("raw_val_acc") is not None), default=None
        ),
        raw_test_loss=raw_test[0],
        raw_test_acc=raw_test[1],
        epochs=len(h),
        steps=result.steps,
        wall_s=wall_s,
        # a diverged or collapsed run must never look good: NaN (the sweeper records it PRUNED)
        objective_value=math.nan if result.status in FAILED_RUNS or value is None else value,
        numerics=numerics,
    ).as_dict()


def judge(result: FitResult, num_classes: int | None) -> FitResult:
    """The run's final status, settled before any part's ``on_end`` sees it: a completed run
    that ``collapsed`` is recorded like a diverged one, so no part (the final weights, a
    tracker) treats it as a completed run."""
    h = result.history
    if result.status == RunStatus.COMPLETED and num_classes and collapsed(h, num_classes):
        return dataclasses.replace(
            result,
            status=RunStatus.COLLAPSED,
            reason=(
                f"training accuracy {h[-1]['train_acc']:.3f} at the end is near chance "
                f"(1/{num_classes}) and the training loss stopped falling; recorded like a "
                "diverged run"
            ),
        )
    return result


# optimizer steps the judged end of a run must hold before it can be called collapsed: a short
# run (a 3-epoch rung of a small dataset is ~30 steps) that has not started learning is a
# completed run with its low score, not a collapse
JUDGE_STEPS = 50
MIN_PROGRESS = 0.01  # a training loss that fell by less than this share over the judged steps


def collapsed(history: list[dict], num_classes: int) -> bool:
    """The run will not train: over its last third of epochs (at least 2, holding at least
    ``JUDGE_STEPS`` optimizer steps) training accuracy stayed within ``COLLAPSE_FACTOR`` x
    chance *and* the training loss made no progress (fell by less than ``MIN_PROGRESS``, or
    rose). A run too short to judge, or one still learning slowly, is not collapsed."""
    tail = max(2, math.ceil(len(history) / 3))
    if len(history) < tail:
        return False
    judged = history[-tail:]
    start = history[-tail - 1]["step"] if len(history) > tail else 0
    if judged[-1]["step"] - start < JUDGE_STEPS:
        return False
    near_chance = all(m["train_acc"] <= COLLAPSE_FACTOR / num_classes for m in judged)
    first, last = judged[0]["train_loss"], judged[-1]["train_loss"]
    return near_chance and not last < first * (1 - MIN_PROGRESS)


def check_batch_fits_data(cfg: DictConfig) -> Data:
    """The run's data (loaded once per process) and its batch size fit: the one check that
    needs the data itself; ``tasks.train`` runs it before the first job of a multirun that sets
    ``batch_size``, so ``batch_size=64,100000`` stops before any job trains."""
    try:
        data = load_splits(cfg.data)
    except (FileNotFoundError, UnsafeDataFile, DataSourceError) as e:
        words = str(e)  # the project's loaders name their key; a user's source does not
        if not _raised_here(e):
            words = f"data.source raised {type(e).__name__}: {words}"
        raise ConfigError(words) from None
    if data.n_train < cfg.batch_size:
        raise ConfigError(
            f"batch_size={cfg.batch_size} is larger than the {data.n_train} training samples of data={cfg.data.name}."
        )
    return data


def _raised_here(e: BaseException) -> bool:
    """Whether this package's own code raised ``e`` (not a user's data source)."""
    import traceback

    frames = traceback.extract_tb(e.__traceback__)
    return bool(frames) and Path(frames[-1].filename).is_relative_to(Path(__file__).parent)


def build_model(cfg: DictConfig) -> torch.nn.Module:
    """The config's model: a constructor that raises, or a ``_target_`` that returns something
    other than an ``nn.Module``, is one line naming ``model``."""
    model = user_code("model", lambda: instantiate(cfg.model))
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(
            f"model: its _target_ {cfg.model._target_} returned a {type(model).__name__}, not a torch.nn.Module."
        )
    return model


def check_user_code(cfg: DictConfig) -> None:
    """The user code a run calls first, called once per data, model and batch size before any
    job trains: the data source, its statistics pass (a streamed Dataset), the batch fitting the
    data and the model's constructor. A source that raises or a constructor that fails is one
    line before the sweep starts, not one failed trial per job; the data is cached, so the
    jobs of this process reuse it."""
    own = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("data", "model")}
    check_once(OmegaConf.create({**own, "batch_size": cfg.batch_size}), _build_user_code)


def _build_user_code(cfg: DictConfig) -> None:
    check_batch_fits_data(cfg)
    build_model(cfg)


def prepare(cfg: DictConfig) -> tuple[Data, Stepper]:
    """Device, threads, data on the device, then a freshly seeded model and optimizer.

    Shared by ``tasks.train`` and ``tasks.range_test``: every call builds new
    objects, so nothing one run does is seen by the next.
    """
    device = resolve_device(cfg.device)
    torch.set_num_threads(cfg.threads)
    precision = resolve_precision(cfg.precision, device)
    data = check_batch_fits_data(cfg).to(device)  # before seeding: generators touch global RNGs
    generator = seed_everything(cfg.seed, device)
    model = build_model(cfg).to(device)
    if precision.channels_last:
        model = model.to(memory_format=torch.channels_last)
    weight_decay = instantiate(cfg.regularization.weight_decay)
    # wrapper=none: the base itself; a wrapper's own checks (SAM's rho > 0) raise ConfigError
    optimizer = instantiate(cfg.wrapper)(
        instantiate(cfg.optimizer)(weight_decay.param_groups(model))
    )
    stepper = Stepper(
        model,
        optimizer,
        weight_decay,
        cfg.regularization.label_smoothing,
        Augment(**cfg.data.augment),
        generator,
        precision,
        step_parts(optimizer),  # a wrapper's part of every step (SAM's second pass)
    )
    return data, stepper


def run(cfg: DictConfig, out_dir: Path, callbacks: Sequence[Callable[[dict], None]] = ()) -> float:
    """Train one model as ``cfg`` says, write ``metrics.jsonl`` and ``summary.json``
    into ``out_dir``, and return ``summary[cfg.objective]`` (NaN if it diverged)."""
    t0 = time.perf_counter()
    check_once(cfg, check_train_config)
    data, stepper = prepare(cfg)
    averaging, schedule = plan(cfg, stepper, data.n_train)
    if cfg.get(
        "init_from"
    ):  # another run's final weights, with this run's own schedule (a new cycle)
        checkpoint.load_weights(Path(cfg.init_from), stepper.model)
    estimate = SecantLrEstimate(stepper.model) if cfg.get("lr_estimate") else None
    stepper = dataclasses.replace(  # the step's parts in order: estimate, SAM, the average
        stepper,
        parts=(
            *([estimate] if estimate else []),
            *stepper.parts,
            *([averaging] if averaging.active else []),
        ),
        average=averaging,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    best = BestWeights(averaging.evaluated)
    saver = Checkpointer(
        out_dir / checkpoint.FILE,
        cfg.checkpoint.every,
        checkpoint.fingerprint(cfg),
        stepper,
        averaging,
        best,
        estimate,
    )
    resume = saver.restore()  # the same command again in the same run dir continues there
    if resume is not None:
        log.info(f"resuming from {saver.path} after epoch {len(resume.history)}")
    parts: list[RunPart] = [
        MetricsFile(out_dir / "metrics.jsonl", saver.history),
        Progress(cfg.epochs, name=out_dir.name),
        best,
        saver,
        *(
            [FinalWeights(out_dir / checkpoint.FINAL, stepper.model)]
            if cfg.checkpoint.final
            else []
        ),
        *make_trackers(cfg, out_dir),  # opt-in TensorBoard / MLflow (training/tracking.py)
    ]
    try:
        result = train(cfg, stepper, data, schedule, resume, parts, callbacks)
    finally:
        for part in parts:
            part.close()
    result = judge(result, cfg.data.get("num_classes"))
    for part in parts:
        part.on_end(result)
    final, at_best, raw = evaluate_kept(result, data, stepper, best)
    wall_s = time.perf_counter() - t0
    summary = summarize(
        result,
        final,
        at_best,
        wall_s,
        cfg.objective,
        raw,
        numerics(resolve_device(cfg.device)),
    )
    write_json(out_dir / "summary.json", summary)
    for part in parts:
        part.on_summary(summary)
    _report(summary, out_dir)
    if cfg.get("expected"):  # a preset's measured numbers: say how this run compares
        log.info(
            f"expected test_acc {cfg.expected.test_acc} ({cfg.expected.source}); got {summary['test_acc']} (final), {summary['test_acc_at_best']} (best epoch)"
        )
    if summary["status"] in FAILED_RUNS and cfg.get("failed_objective") is not None:
        # a sweeper other than ours may stop the whole search on a NaN; summary.json keeps NaN
        return float(cfg.failed_objective)
    return summary["objective_value"]


def plan(cfg: DictConfig, stepper: Stepper, n_train: int) -> tuple[Averaging, Schedule]:
    """The weight average and the lr schedule over the run's steps (SWA runs the schedule for
    its first part, then its own lr segment)."""
    steps_per_epoch = n_train // cfg.batch_size
    total = cfg.epochs * steps_per_epoch
    # the schedule's and the average's own checks raise ConfigError (one line); anything else
    # raised here is a bug and keeps its traceback
    averaging = instantiate(cfg.averaging)(stepper.model)
    main_steps = averaging.main_steps(total, steps_per_epoch)
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    schedule = averaging.extend(
        with_warmup(
            instantiate(cfg.schedule),
            total_steps=main_steps,
            steps_per_epoch=steps_per_epoch,
            warmup_steps=warmup,
        ),
        main_steps,
        total,
        steps_per_epoch,
    )
    return averaging, schedule


def train(
    cfg: DictConfig,
    stepper: Stepper,
    data: Data,
    schedule: Schedule,
    resume: FitResult | None,
    parts: Sequence[RunPart],
    callbacks: Sequence[Callable[[dict], None]],
) -> FitResult:
    """The epochs, under stop signals: a SIGTERM / SIGUSR2 lets every part save what it must at
    this step boundary, then the process ends as the signal would."""
    stop = StopSignals()
    try:
        with stop:
            return fit(
                stepper,
                data,
                schedule,
                epochs=cfg.epochs,
                batch_size=cfg.batch_size,
                callbacks=[*parts, *callbacks],
                resume=resume,
                stop=stop,
            )
    except Preempted as p:
        for part in parts:
            part.on_preempt(p)
        log.warning(
            f"{p.signal_name} after step {p.steps}: checkpoint {checkpoint.FILE} written in the run dir; the same command resumes from it"
        )
        stop.pass_on()
        raise SystemExit(128 + int(stop.received or 0)) from None  # the handler returned


def evaluate_kept(
    result: FitResult, data: Data, stepper: Stepper, best: BestWeights
) -> tuple[Evaluation, Evaluation, Evaluation]:
    """Each kept model tested once: the final (averaged) one, the best-validation one and the
    raw weights (with an average); nothing for a diverged run."""
    none: Evaluation = (None, None)
    if result.status == RunStatus.DIVERGED:
        return none, none, none
    averaging = stepper.average
    judged = averaging.evaluated() if averaging is not None else stepper.model
    final = evaluate(judged, data, "test", stepper.precision)
    raw = none
    if averaging is not None and averaging.active:
        raw = (
            final
            if judged is stepper.model
            else evaluate(stepper.model, data, "test", stepper.precision)
        )
    return final, best.evaluate(result, data, stepper.precision) or final, raw


def _report(s: dict, out_dir: Path) -> None:
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    direction = OBJECTIVES[s["objective"]]
    line = (
        f"{s['status']}: {s['objective']}={fmt(s['objective_value'] if math.isfinite(s['objective_value']) else None)} ({direction}), "
        f"best_val_acc={fmt(s['best_val_acc'])} at epoch {s['best_epoch']} (test_acc there {fmt(s['test_acc_at_best'])}), "
        f"final test_acc={fmt(s['test_acc'])}, "
        f"{s['epochs']} epochs in {s['wall_s']:.1f}s -> {out_dir}"
    )
    if s["reason"]:
        line += f" [{s['reason']}]"
    log.info(line)
