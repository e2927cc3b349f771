"""Schedules equal torch's schedulers at every step, and compose continuously."""

from __future__ import annotations

import math

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch.optim import lr_scheduler as tl

from training import schedules as S

from .conftest import CONF_DIR, config_options


def torch_trace(
    make_scheduler, steps: int, *, betas: bool = False, lr: float = 1.0
) -> list[tuple[float, float]]:
    """(lr, momentum) a torch scheduler sets before each of ``steps`` optimizer steps."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=lr) if betas else torch.optim.SGD([p], lr=lr, momentum=0.9)
    sched = make_scheduler(opt)
    out = []
    for _ in range(steps):
        g = opt.param_groups[0]
        out.append((g["lr"], g["betas"][0] if betas else g["momentum"]))
        opt.step()
        sched.step()
    return out


def assert_same(ours: S.Schedule, theirs: list[tuple[float, float]], momentum: bool = True) -> None:
    for step, (lr, mom) in enumerate(theirs):
        got_lr, got_mom = ours(step)
        assert got_lr == pytest.approx(lr, rel=1e-12, abs=1e-15), f"lr at step {step}"
        if momentum:
            assert got_mom == pytest.approx(mom, rel=1e-12), f"momentum at step {step}"


ONE_CYCLE = dict(
    pct_start=0.3, div=25.0, cycle_momentum=True, base_momentum=0.85, max_momentum=0.95
)


@pytest.mark.parametrize("total", [10, 97, 1000])
@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("betas", [False, True])
def test_one_cycle_equals_torch(total, anneal, three_phase, betas):
    ours = S.one_cycle(
        total_steps=total,
        steps_per_epoch=1,
        max_lr=0.8,
        div_final=25.0 * 1e4,
        anneal=anneal,
        three_phase=three_phase,
        **ONE_CYCLE,
    )
    theirs = torch_trace(
        lambda o: tl.OneCycleLR(
            o,
            max_lr=0.8,
            total_steps=total,
            pct_start=0.3,
            anneal_strategy=anneal,
            three_phase=three_phase,
        ),
        total,
        betas=betas,
    )
    assert_same(ours, theirs)


CYCLIC = [("triangular", {}), ("triangular2", {}), ("exp_range", {"gamma": 0.997})]


@pytest.mark.parametrize("mode,extra", CYCLIC)
@pytest.mark.parametrize("up,down", [(7, None), (5, 11), (1, 1)])
def test_cyclic_equals_torch(mode, extra, up, down):
    steps = 6 * (up + (down or up)) + 3
    ours = getattr(S, mode)(
        total_steps=steps,
        steps_per_epoch=1,
        max_lr=1.0,
        div=4.0,
        step_size_epochs=up,
        step_size_down_epochs=down,
        cycle_momentum=True,
        base_momentum=0.8,
        max_momentum=0.9,
        **extra,
    )
    theirs = torch_trace(
        lambda o: tl.CyclicLR(
            o,
            base_lr=0.25,
            max_lr=1.0,
            step_size_up=up,
            step_size_down=down,
            mode=mode,
            gamma=extra.get("gamma", 1.0),
        ),
        steps,
    )
    assert_same(ours, theirs)


@pytest.mark.parametrize("t0,mult", [(10, 1), (7, 2), (3, 3)])
def test_sgdr_equals_torch(t0, mult):
    steps = 200
    ours = S.sgdr(
        total_steps=steps, steps_per_epoch=1, max_lr=0.5, T_0=t0, T_mult=mult, eta_min=0.01
    )
    theirs = torch_trace(
        lambda o: tl.CosineAnnealingWarmRestarts(o, T_0=t0, T_mult=mult, eta_min=0.01),
        steps,
        lr=0.5,
    )
    assert_same(ours, theirs, momentum=False)


def test_step_equals_multisteplr():
    total = 100
    ours = S.step(
        total_steps=total, steps_per_epoch=1, max_lr=1.0, milestones=[0.5, 0.75], gamma=0.1
    )
    theirs = torch_trace(lambda o: tl.MultiStepLR(o, milestones=[50, 75], gamma=0.1), total)
    assert_same(ours, theirs, momentum=False)


def test_cosine_endpoints():
    s = S.cosine(total_steps=100, steps_per_epoch=10, max_lr=0.4, final_lr=0.004)
    assert s(0)[0] == pytest.approx(0.4)
    assert s(50)[0] == pytest.approx((0.4 + 0.004) / 2)
    assert s(100)[0] == pytest.approx(0.004)


def test_one_cycle_fastai_defaults_endpoints():
    s = S.one_cycle(
        total_steps=400,
        steps_per_epoch=10,
        max_lr=1.0,
        pct_start=0.25,
        div=25.0,
        div_final=1e5,
        anneal="cos",
        three_phase=False,
        cycle_momentum=True,
        base_momentum=0.85,
        max_momentum=0.95,
    )
    lrs = [s(i)[0] for i in range(400)]
    assert lrs[0] == pytest.approx(1 / 25)
    assert max(lrs) == pytest.approx(1.0)
    assert lrs.index(max(lrs)) == 99  # peak at pct_start * total - 1, as OneCycleLR
    assert lrs[-1] == pytest.approx(1e-5)
    assert (
        s(99)[1] == pytest.approx(0.85)
        and s(0)[1] == pytest.approx(0.95)
        and s(399)[1] == pytest.approx(0.95)
    )


# --- every configured schedule: built from its YAML, with and without warmup ---


def build(name: str, total: int, spe: int, warmup: int):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"schedule={name}", "max_lr=0.5"])
    return S.with_warmup(
        instantiate(cfg.schedule), total_steps=total, steps_per_epoch=spe, warmup_steps=warmup
    )


@pytest.mark.parametrize("name", config_options("schedule"))
def test_every_schedule_is_finite_positive_and_bounded(name):
    s = build(name, total=300, spe=10, warmup=0)
    for i in range(300):
        lr, mom = s(i)
        assert math.isfinite(lr) and 0 <= lr <= 0.5 + 1e-12
        assert mom is None or 0 <= mom < 1


@pytest.mark.parametrize("name", config_options("schedule"))
def test_warmup_is_a_continuous_segment(name):
    warm, total = 30, 300
    plain = build(name, total=total - warm, spe=10, warmup=0)
    s = build(name, total=total, spe=10, warmup=warm)
    assert s(0)[0] == 0.0
    lrs = [s(i)[0] for i in range(warm + 1)]
    assert all(b >= a for a, b in zip(lrs, lrs[1:], strict=False)), "warmup rises monotonically"
    assert s(warm) == plain(0), "after warmup the schedule starts from its own step 0"
    assert s(warm - 1)[0] == pytest.approx(plain(0)[0] * (warm - 1) / warm)
    for i in range(warm, total):
        assert s(i) == plain(i - warm)


def test_piecewise_is_continuous_at_knots():
    curve = S.piecewise(
        [0, 10, 30, 40], [1.0, 5.0, 2.0, 0.5], [S.anneal_cos, S.anneal_linear, S.anneal_exp]
    )
    assert [curve(k) for k in (0, 10, 30, 40)] == pytest.approx([1.0, 5.0, 2.0, 0.5])
    for k in (10, 30):  # neighbours on both sides are close to the knot value
        assert abs(curve(k - 1) - curve(k)) < 0.6 and abs(curve(k + 1) - curve(k)) < 0.6


def test_piecewise_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="len"):
        S.piecewise([0, 1], [1.0], [S.anneal_cos])


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"pct_start": 1.0}, "pct_start"),
        ({"pct_start": 0.0}, "pct_start"),
        ({"max_lr": -1.0}, "max_lr"),
        ({"anneal": "cubic"}, "anneal"),
    ],
)
def test_one_cycle_rejects_bad_parameters(kw, key):
    params = dict(
        max_lr=1.0,
        pct_start=0.25,
        div=25.0,
        div_final=1e5,
        anneal="cos",
        three_phase=False,
        cycle_momentum=True,
        base_momentum=0.85,
        max_momentum=0.95,
    )
    params.update(kw)
    with pytest.raises(ValueError, match=f"schedule.{key}"):
        S.one_cycle(total_steps=100, steps_per_epoch=10, **params)
