"""Lookahead, SAM, SWA, EMA and the Hessian-free lr estimate against their published rules."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from torch.optim.swa_utils import SWALR, AveragedModel

from training.averaging import EMA, SWA, swa_segment
from training.loop import fit
from training.lr_estimate import SecantLrEstimate
from training.optim import SAM, Lookahead
from training.parts import RunPart
from training.runner import prepare
from training.schedules import constant

from .conftest import CONF_DIR


def quadratic(a: np.ndarray, w0: np.ndarray):
    """A parameter at ``w0`` and the loss 0.5 * sum(a * w^2) (gradient a * w, Hessian diag(a))."""
    w = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    return w, lambda: 0.5 * (torch.tensor(a) * w * w).sum()


def test_lookahead_follows_the_published_rule():
    a, w0, lr, k, alpha = np.array([1.0, 3.0]), np.array([2.0, -1.0]), 0.1, 3, 0.5
    w, loss = quadratic(a, w0)
    opt = Lookahead(torch.optim.SGD([w], lr=lr), k=k, alpha=alpha)
    for _ in range(2 * k):
        opt.zero_grad()
        loss().backward()
        opt.step()
    slow = w0.copy()
    for _ in range(2):  # k fast SGD steps from the slow weights, then slow += alpha * (fast - slow)
        fast = slow * (1 - lr * a) ** k
        slow = slow + alpha * (fast - slow)
    assert np.allclose(w.detach().numpy(), slow)


@pytest.mark.parametrize("adaptive", [False, True])
def test_sam_takes_the_gradient_at_the_published_perturbation(adaptive):
    a, w0, lr, rho = np.array([1.0, 4.0]), np.array([1.0, -2.0]), 0.05, 0.3
    w, loss = quadratic(a, w0)
    opt = SAM(torch.optim.SGD([w], lr=lr), rho=rho, adaptive=adaptive)
    opt.zero_grad()
    loss().backward()
    opt.perturb()
    opt.zero_grad()
    loss().backward()
    opt.restore()
    opt.step()
    g = a * w0
    t = (
        np.abs(w0) if adaptive else np.ones_like(w0)
    )  # Foret et al.; adaptive: Kwon et al. (T_w = |w|)
    e = rho * t * t * g / np.linalg.norm(t * g)
    assert np.allclose(w.detach().numpy(), w0 - lr * a * (w0 + e))


def test_secant_lr_estimate_is_the_inverse_curvature_on_a_quadratic():
    """Along plain gradient descent on 0.5*a*w^2, |dw| / |dg| = 1/a for every weight."""
    w, loss = quadratic(np.array([2.0, 2.0, 2.0]), np.array([1.0, -3.0, 0.5]))
    model = torch.nn.Module()
    model.w = w
    est, opt = SecantLrEstimate(model), torch.optim.SGD([w], lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        loss().backward()
        est.observe()
        opt.step()
    assert est.value() == pytest.approx(0.5) and est.last == pytest.approx(0.5)


def test_swa_segment_equals_torch_swalr():
    main, main_steps, anneal, swa_lr = (
        constant(total_steps=10, steps_per_epoch=5, max_lr=0.4),
        10,
        6,
        0.05,
    )
    sched = swa_segment(main, main_steps, anneal, swa_lr, "cos")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.4)
    swalr = SWALR(opt, swa_lr=swa_lr, anneal_epochs=anneal, anneal_strategy="cos")
    for k in range(anneal + 4):
        assert sched(main_steps + k)[0] == pytest.approx(opt.param_groups[0]["lr"]), k
        opt.step()
        swalr.step()
    assert [sched(s)[0] for s in range(main_steps)] == [0.4] * main_steps


def train_cfg(*overrides: str):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("train", overrides=["epochs=4", "model.channels=8", *overrides])


def test_swa_averages_equal_a_hand_written_swa_utils_loop():
    """The run's SWA weights are what AveragedModel.update_parameters gives on the raw weights
    at the end of each averaged epoch (epochs 3 and 4 of 4 with start=0.5)."""
    cfg = train_cfg("averaging=swa", "averaging.start=0.5")
    data, stepper = prepare(cfg)
    swa = SWA(stepper.model, start=0.5, every=1, swa_lr=0.05, anneal_epochs=1, anneal="cos")
    spe = len(data.train_y) // cfg.batch_size
    main = swa.main_steps(4 * spe, spe)
    snapshots = []
    snapshot = lambda m: snapshots.append(
        {k: v.clone() for k, v in stepper.model.state_dict().items()}
    )  # noqa: E731
    schedule = swa.extend(
        constant(total_steps=main, steps_per_epoch=spe, max_lr=0.1), main, 4 * spe, spe
    )
    fit(
        dataclasses.replace(stepper, average=swa),
        data,
        schedule,
        epochs=4,
        batch_size=cfg.batch_size,
        callbacks=[snapshot],
    )
    by_hand = AveragedModel(stepper.model)
    copy = type(stepper.model)(**{k: v for k, v in cfg.model.items() if k != "_target_"})
    for snap in snapshots[2:]:  # epochs 3 and 4
        copy.load_state_dict(snap)
        by_hand.update_parameters(copy)
    assert int(swa.average.n_averaged) == 2
    for ours, theirs in zip(
        swa.average.module.parameters(), by_hand.module.parameters(), strict=True
    ):
        assert torch.equal(ours, theirs)


def test_ema_is_updated_every_step_with_the_published_rule():
    cfg = train_cfg("averaging=ema", "epochs=1")
    data, stepper = prepare(cfg)
    ema = EMA(stepper.model, decay=0.9)
    history = []

    class Recorded(RunPart):  # a part of every step, after the average took the new weights
        def after_step(self, step) -> None:
            history.append([p.detach().clone() for p in stepper.model.parameters()])

    fit(
        dataclasses.replace(stepper, parts=(ema, Recorded()), average=ema),
        data,
        constant(total_steps=100, steps_per_epoch=100, max_lr=0.1),
        epochs=1,
        batch_size=cfg.batch_size,
    )
    expected = history[0]  # the first update copies the weights; then ema = 0.9 * ema + 0.1 * w
    for ws in history[1:]:
        expected = [0.9 * e + 0.1 * w for e, w in zip(expected, ws, strict=True)]
    for ours, want in zip(ema.average.module.parameters(), expected, strict=True):
        assert torch.allclose(ours, want, atol=1e-6)


@pytest.mark.parametrize(
    "overrides",
    [
        ("wrapper=lookahead",),
        ("wrapper=sam",),
        (
            "wrapper=sam",
            "wrapper.adaptive=true",
            "wrapper.rho=0.5",
            "optimizer=adamw",
            "regularization=decoupled",
        ),
        ("wrapper=lookahead", "averaging=ema", "averaging.decay=0.9", "schedule=triangular2"),
        ("wrapper=sam", "averaging=swa", "schedule=cosine", "lr_estimate=true"),
    ],
)
def test_methods_compose_with_schedules_weight_decay_and_averaging(tmp_path, overrides):
    import json

    from training.runner import run

    run(train_cfg(*overrides), tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert summary["status"] == "completed" and summary["best_val_acc"] > 0.3
    if "averaging" in " ".join(overrides):
        assert summary["raw_test_acc"] is not None and all("raw_val_acc" in m for m in metrics)
    if "lr_estimate=true" in overrides:
        assert all(
            m["lr_estimate"] is None or (math.isfinite(m["lr_estimate"]) and m["lr_estimate"] > 0)
            for m in metrics
        )
        assert metrics[-1]["lr_estimate"] is not None


def test_sam_runs_in_the_range_test(tmp_path):
    from training.range_test import range_test

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("range_test", overrides=["wrapper=sam", "num_iter=30", "model.channels=8"])
    result = range_test(cfg, tmp_path)
    assert len(result["lrs"]) > 20 and result["bounds"]["max_lr"] is not None


def test_sams_second_pass_is_a_part_of_every_step_taken_from_the_perturbed_weights():
    """wrapper=sam brings its second pass into the step as a part (no duck-typed flag in the
    loop): with it, one step moves the weights as SAM's perturb / backward / restore by hand
    does on a copy; without it, as plain SGD would."""
    import copy

    from training.loop import _frozen_norm_stats
    from training.optim import SharpnessPass

    cfg = train_cfg("wrapper=sam", "epochs=1", "wd=0")
    data, stepper = prepare(cfg)
    assert [type(p) for p in stepper.parts] == [SharpnessPass]
    xb, yb = next(iter(data.train_batches(torch.arange(data.n_train), cfg.batch_size)))
    twin = copy.deepcopy(stepper.model)
    plain = copy.deepcopy(stepper.model)
    stepper(xb, yb, 0.1, None)
    group = stepper.optimizer.param_groups[0]
    sgd_like = {"lr": 0.1, "momentum": group["momentum"], "nesterov": group["nesterov"]}
    by_hand = SAM(
        torch.optim.SGD(twin.parameters(), **sgd_like), rho=cfg.wrapper.rho, adaptive=False
    )
    loss = lambda m: torch.nn.functional.cross_entropy(m(xb), yb)  # noqa: E731
    by_hand.zero_grad()
    loss(twin).backward()
    by_hand.perturb()
    by_hand.zero_grad()
    with _frozen_norm_stats(twin):  # the second pass leaves BatchNorm's statistics alone
        loss(twin).backward()
    by_hand.restore()
    by_hand.step()
    sgd = torch.optim.SGD(plain.parameters(), **sgd_like)
    sgd.zero_grad()
    loss(plain).backward()
    sgd.step()
    ours, want, sgd_w = (
        torch.cat([p.detach().flatten() for p in m.parameters()])
        for m in (stepper.model, twin, plain)
    )
    assert torch.allclose(ours, want, atol=1e-6) and not torch.allclose(ours, sgd_w, atol=1e-6)
