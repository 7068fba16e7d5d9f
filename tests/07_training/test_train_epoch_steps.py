"""Module 07: one training epoch takes exactly the steps a hand-written loop takes.

A `train_epoch` that forgets `optimizer.zero_grad()` adds each batch's gradient to the last one's; the
end-to-end tests only see slightly worse learning (and blamed a scheduler), so this test compares the
weights after an epoch with a hand-written loop's, batch by batch."""

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.nn import Linear, MSELoss
from tinytorch.optim import SGD
from tinytorch.training import Trainer, seed_everything

pytestmark = pytest.mark.m07


def make_model():
    seed_everything(3)
    return Linear(3, 2)


def test_an_epoch_takes_the_same_steps_as_a_hand_written_loop():
    rng = np.random.default_rng(0)
    data = [(Tensor(rng.standard_normal((4, 3))), Tensor(rng.standard_normal((4, 2)))) for _ in range(3)]

    model = make_model()
    Trainer(model, SGD(model.parameters(), lr=0.1), MSELoss()).train_epoch(data)

    reference = make_model()
    optimizer, loss_fn = SGD(reference.parameters(), lr=0.1), MSELoss()
    for inputs, targets in data:
        optimizer.zero_grad()
        loss_fn(reference(inputs), targets).backward()
        optimizer.step()

    for (name, trained), expected in zip(model.named_parameters(), reference.parameters()):
        np.testing.assert_allclose(trained.data, expected.data, rtol=1e-6, err_msg=f"{name} after one epoch")
