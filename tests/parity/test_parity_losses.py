"""Losses against torch.nn: every reduction, values and gradients with respect to the prediction."""

import itertools

import numpy as np
import pytest
from torch_reference import DTYPES, inputs, run_both, torch

from tinytorch import Tensor, nn

REDUCTIONS = ["mean", "sum", "none"]


def scores(shape, dtype, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 2).astype(dtype)


@pytest.mark.parametrize("reduction, dtype", list(itertools.product(REDUCTIONS, DTYPES)))
def test_mse_loss(reduction, dtype):
    target = scores((6, 3), dtype, seed=1)
    run_both(
        lambda p: nn.MSELoss(reduction=reduction)(p, Tensor(target)),
        lambda p: torch.nn.MSELoss(reduction=reduction)(p, torch.from_numpy(target)),
        scores((6, 3), dtype),
        f"MSELoss {reduction}",
    )


@pytest.mark.parametrize("reduction, smoothing, dtype", list(itertools.product(REDUCTIONS, [0.0, 0.1], DTYPES)))
def test_cross_entropy_loss(reduction, smoothing, dtype):
    labels = np.random.default_rng(2).integers(0, 5, 8)
    logits = scores((8, 5), dtype)
    logits[0] = (40.0, -40.0, 0.0, 0.0, 0.0)  # a confident row: stability matters
    run_both(
        lambda x: nn.CrossEntropyLoss(label_smoothing=smoothing, reduction=reduction)(x, labels),
        lambda x: torch.nn.CrossEntropyLoss(label_smoothing=smoothing, reduction=reduction)(
            x, torch.from_numpy(labels)
        ),
        logits,
        f"CrossEntropyLoss {reduction} smoothing={smoothing}",
    )


@pytest.mark.parametrize("reduction, dtype", list(itertools.product(REDUCTIONS, DTYPES)))
def test_bce_with_logits_loss(reduction, dtype):
    target = np.random.default_rng(3).uniform(0, 1, (7, 2)).astype(dtype)
    logits = scores((7, 2), dtype)
    logits[0, 0] = 50.0
    run_both(
        lambda x: nn.BCEWithLogitsLoss(reduction=reduction)(x, Tensor(target)),
        lambda x: torch.nn.BCEWithLogitsLoss(reduction=reduction)(x, torch.from_numpy(target)),
        logits,
        f"BCEWithLogitsLoss {reduction}",
    )


@pytest.mark.parametrize("reduction, dtype", list(itertools.product(REDUCTIONS, DTYPES)))
def test_bce_loss(reduction, dtype):
    target = (np.random.default_rng(4).uniform(0, 1, (7, 2)) > 0.5).astype(dtype)
    probabilities = np.random.default_rng(5).uniform(0.01, 0.99, (7, 2)).astype(dtype)
    run_both(
        lambda p: nn.BCELoss(reduction=reduction)(p, Tensor(target)),
        lambda p: torch.nn.BCELoss(reduction=reduction)(p, torch.from_numpy(target)),
        probabilities,
        f"BCELoss {reduction}",
    )


def test_bce_loss_at_a_certain_wrong_answer_is_a_deliberate_difference():
    """A deliberate difference: BCELoss clips p into [1e-7, 1 - 1e-7] (loss at most -log(1e-7) = 16.1
    per element, and a gradient that stays finite), where PyTorch clamps each log at -100 (loss 100,
    and an infinite gradient at p = 0)."""
    p, tp = inputs(np.array([0.0, 1.0], dtype=np.float32))
    target = np.array([1.0, 0.0], dtype=np.float32)
    ours = nn.BCELoss(reduction="none")(p, Tensor(target))
    theirs = torch.nn.BCELoss(reduction="none")(tp, torch.from_numpy(target))
    assert np.all((15.9 < ours.data) & (ours.data < 16.2)), "ours: about -log(1e-7), as float32 rounds 1 - 1e-7"
    assert theirs.detach().numpy().tolist() == [100.0, 100.0], "torch: each log clamped at -100"
