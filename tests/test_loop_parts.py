"""Augmentation and weight decay match their definitions."""

from __future__ import annotations

import pytest
import torch

from training.augment import Augment
from training.regularization import WeightDecay


def test_crop_is_a_shifted_window_of_the_zero_padded_image():
    x = torch.arange(2 * 3 * 6 * 5, dtype=torch.float32).reshape(2, 3, 6, 5)
    gen = torch.Generator().manual_seed(0)
    out = Augment(crop_padding=2, flip=False)(x, gen)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        windows = [padded[i, :, dy : dy + 6, dx : dx + 5] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)


def test_crops_and_flips_vary_per_sample_and_follow_the_generator():
    x = torch.randn(256, 1, 8, 8)
    a = Augment(crop_padding=2, flip=True)(x, torch.Generator().manual_seed(1))
    b = Augment(crop_padding=2, flip=True)(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    flipped = sum(torch.equal(a[i], x[i].flip(2)) for i in range(256))
    unchanged = sum(torch.equal(a[i], x[i]) for i in range(256))
    assert 0 < flipped + unchanged < 256, "some samples moved, not all the same way"


def test_flip_only_flips_about_half():
    x = torch.randn(1000, 1, 4, 4)
    out = Augment(crop_padding=0, flip=True)(x, torch.Generator().manual_seed(0))
    n_flipped = sum(torch.equal(out[i], x[i].flip(2)) for i in range(1000))
    assert 400 < n_flipped < 600


def train_steps(make_opt, wd: WeightDecay | None, steps: int = 5) -> torch.Tensor:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    groups = wd.param_groups(model) if wd else [{"params": list(model.parameters())}]
    opt = make_opt(groups)
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        if wd:
            wd.apply(opt, opt.param_groups[0]["lr"])
        opt.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("nesterov", [False, True])
def test_coupled_decay_equals_sgd_weight_decay(nesterov):
    ours = train_steps(
        lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9, nesterov=nesterov),
        WeightDecay(0.01, decoupled=False, on_norm_and_bias=True),
    )
    native = train_steps(
        lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9, nesterov=nesterov, weight_decay=0.01),
        None,
    )
    torch.testing.assert_close(ours, native)


def test_decoupled_decay_equals_adamw():
    ours = train_steps(
        lambda g: torch.optim.AdamW(g, lr=0.01, weight_decay=0.0),
        WeightDecay(0.1, decoupled=True, on_norm_and_bias=True),
    )
    native = train_steps(lambda g: torch.optim.AdamW(g, lr=0.01, weight_decay=0.1), None)
    torch.testing.assert_close(ours, native)


def test_bias_is_not_decayed_by_default():
    model = torch.nn.Linear(4, 3)
    groups = WeightDecay(0.1, decoupled=False, on_norm_and_bias=False).param_groups(model)
    decayed = {id(p) for g in groups if g["decay"] for p in g["params"]}
    assert decayed == {id(model.weight)}


def test_weight_decay_rejects_negative_rate():
    with pytest.raises(ValueError, match="wd must be"):
        WeightDecay(-1.0, decoupled=False, on_norm_and_bias=False)
