"""Optimizers and schedulers against torch.optim: the same parameters and gradients, several steps.

The gradients come from a fixed quadratic loss, so each step's gradient depends on the last update:
a difference anywhere in an optimizer's rule grows over the steps instead of hiding.
"""

import itertools

import numpy as np
import pytest
from torch_reference import assert_close, torch

from tinytorch import Tensor, optim
from tinytorch.optim import lr_scheduler

STEPS = 6


def train_both(make_ours, make_theirs, dtype=np.float32, steps=STEPS, scheduler=None):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape).astype(dtype) for shape in [(4, 3), (3,)]]
    target = [rng.standard_normal(a.shape).astype(dtype) for a in arrays]
    ours = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    ours_opt, theirs_opt = make_ours(ours), make_theirs(theirs)
    for step in range(steps):
        ours_opt.zero_grad()
        theirs_opt.zero_grad()
        sum(((p - Tensor(t)) ** 2 * (i + 1)).sum() for i, (p, t) in enumerate(zip(ours, target))).backward()
        sum(((p - torch.from_numpy(t)) ** 2 * (i + 1)).sum() for i, (p, t) in enumerate(zip(theirs, target))).backward()
        ours_opt.step()
        theirs_opt.step()
        for p, tp in zip(ours, theirs):
            assert_close(p, tp, f"step {step + 1}", rtol=1e-5, atol=1e-6)


SGD_SETTINGS = [
    dict(),
    dict(momentum=0.9),
    dict(momentum=0.9, nesterov=True),
    dict(weight_decay=0.1),
    dict(momentum=0.5, weight_decay=0.01, nesterov=True),
]


@pytest.mark.parametrize("settings, dtype", list(itertools.product(SGD_SETTINGS, [np.float32, np.float64])))
def test_sgd(settings, dtype):
    train_both(lambda p: optim.SGD(p, lr=0.05, **settings), lambda p: torch.optim.SGD(p, lr=0.05, **settings), dtype)


ADAM_SETTINGS = [dict(), dict(weight_decay=0.1), dict(betas=(0.8, 0.9), eps=1e-6)]


@pytest.mark.parametrize("name, settings", list(itertools.product(["Adam", "AdamW"], ADAM_SETTINGS)))
def test_adam(name, settings):
    train_both(
        lambda p: getattr(optim, name)(p, lr=0.1, **settings),
        lambda p: getattr(torch.optim, name)(p, lr=0.1, **settings),
    )


def lr_sequences(make_ours, make_theirs, steps, momentum=0.9):
    ours_opt = optim.SGD([Tensor(np.zeros(1), requires_grad=True)], lr=0.1, momentum=momentum)
    theirs_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=momentum)
    ours, theirs = make_ours(ours_opt), make_theirs(theirs_opt)
    ours_lrs, theirs_lrs, ours_momenta, theirs_momenta = [], [], [], []
    for _ in range(steps):
        ours_lrs.append(ours_opt.lr)
        theirs_lrs.append(theirs_opt.param_groups[0]["lr"])
        ours_momenta.append(ours_opt.momentum)
        theirs_momenta.append(theirs_opt.param_groups[0]["momentum"])
        theirs_opt.step()  # torch warns when a scheduler steps before its optimizer
        ours.step()
        theirs.step()
    np.testing.assert_allclose(ours_lrs, theirs_lrs, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours_momenta, theirs_momenta, rtol=1e-12)


@pytest.mark.parametrize("step_size, gamma", [(1, 0.5), (3, 0.1), (4, 0.9)])
def test_step_lr(step_size, gamma):
    lr_sequences(
        lambda o: lr_scheduler.StepLR(o, step_size, gamma),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size, gamma),
        steps=12,
    )


@pytest.mark.parametrize("t_max, eta_min", [(5, 0.0), (10, 0.001), (7, 0.05)])
def test_cosine_annealing_lr(t_max, eta_min):
    lr_sequences(
        lambda o: lr_scheduler.CosineAnnealingLR(o, t_max, eta_min),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, t_max, eta_min),
        steps=t_max + 1,
    )


ONE_CYCLE = [
    dict(),
    dict(anneal_strategy="linear"),
    dict(three_phase=True),
    dict(pct_start=0.5, div_factor=10.0, final_div_factor=100.0),
    dict(cycle_momentum=False),
]


@pytest.mark.parametrize("settings", ONE_CYCLE)
def test_one_cycle_lr(settings):
    lr_sequences(
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=20, **settings),
        lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=20, **settings),
        steps=20,
    )
