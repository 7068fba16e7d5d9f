"""Layers against torch.nn with the same weights: outputs, input gradients and parameter gradients.

Shapes, kernels, strides and paddings come from seeded grids, not hand-picked cases.
"""

import itertools

import numpy as np
import pytest
from torch_reference import assert_close, compare_parameter_grads, copy_weights, inputs, run_both, torch

from tinytorch import Tensor, nn


def check_module(ours, theirs, array, what):
    """Same weights, same input, same upstream gradient: compare output, dL/dx and every dL/dweight."""
    copy_weights(ours, theirs)
    x, tx = inputs(array)
    out, tout = ours(x), theirs(tx)
    assert_close(out, tout, f"{what}: forward")
    upstream = np.random.default_rng(9).standard_normal(tout.shape).astype(array.dtype)
    (out * Tensor(upstream)).sum().backward()
    (tout * torch.from_numpy(upstream)).sum().backward()
    assert_close(x.grad, tx.grad, f"{what}: dL/dx")
    compare_parameter_grads(ours, theirs, what)


def images(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize(
    "bias, batch, features, dtype",
    list(itertools.product([True, False], [1, 5], [(3, 4), (17, 8)], [np.float32, np.float64])),
)
def test_linear(bias, batch, features, dtype):
    ours, theirs = nn.Linear(*features, bias=bias), torch.nn.Linear(*features, bias=bias)
    if dtype == np.float64:
        ours.double()
    check_module(ours, theirs, images((batch, features[0]), dtype), f"Linear{features} bias={bias}")


CONV_GRID = list(itertools.product([1, 3, (2, 3)], [1, 2], [0, 1], [True, False]))


@pytest.mark.parametrize("kernel, stride, padding, bias", CONV_GRID)
def test_conv2d(kernel, stride, padding, bias):
    ours = nn.Conv2d(3, 4, kernel, stride=stride, padding=padding, bias=bias)
    theirs = torch.nn.Conv2d(3, 4, kernel, stride=stride, padding=padding, bias=bias)
    check_module(ours, theirs, images((2, 3, 7, 6)), f"Conv2d k={kernel} s={stride} p={padding}")


def test_conv2d_in_float64():
    ours, theirs = nn.Conv2d(2, 3, 3, padding=1).double(), torch.nn.Conv2d(2, 3, 3, padding=1)
    check_module(ours, theirs, images((2, 2, 5, 5), np.float64), "Conv2d float64")


POOL_GRID = [(2, None, 0), (2, 1, 0), (3, 2, 1), (3, 3, 0), ((2, 3), (1, 2), 0), (3, 1, 1)]


@pytest.mark.parametrize("kernel, stride, padding", POOL_GRID)
@pytest.mark.parametrize("kind", ["MaxPool2d", "AvgPool2d"])
def test_pooling(kind, kernel, stride, padding):
    ours, theirs = getattr(nn, kind)(kernel, stride, padding), getattr(torch.nn, kind)(kernel, stride, padding)
    run_both(ours, theirs, images((2, 3, 8, 7), seed=4), f"{kind} k={kernel} s={stride} p={padding}")


def test_max_pool_gradient_goes_to_one_winner_among_ties():
    """Among equal values both pass the whole gradient to the first in the window, none to the others."""
    x = np.zeros((1, 1, 4, 4), dtype=np.float32)
    run_both(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), x, "MaxPool2d over ties")


@pytest.mark.parametrize("train, shape", list(itertools.product([True, False], [(4, 3, 5, 5), (2, 2, 3, 1)])))
def test_batchnorm2d(train, shape):
    ours, theirs = nn.BatchNorm2d(shape[1], momentum=0.2), torch.nn.BatchNorm2d(shape[1], momentum=0.2)
    warmup = images(shape, seed=5) * 2 + 1
    ours(Tensor(warmup))  # one training step moves the running statistics away from 0 and 1
    theirs(torch.from_numpy(warmup))
    ours.train(train)
    theirs.train(train)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
    check_module(ours, theirs, images(shape, seed=6), f"BatchNorm2d train={train}")
    state, torch_state = ours.state_dict(), theirs.state_dict()
    assert set(state) == set(torch_state)
    for name in state:
        assert_close(state[name], torch_state[name], f"BatchNorm2d {name}")


@pytest.mark.parametrize("start_dim, end_dim", [(1, -1), (0, 2), (2, 3)])
def test_flatten(start_dim, end_dim):
    run_both(nn.Flatten(start_dim, end_dim), torch.nn.Flatten(start_dim, end_dim), images((2, 3, 4, 5)), "Flatten")


def test_dropout_in_eval_mode_and_with_p_zero_is_the_identity():
    for ours, theirs in (
        (nn.Dropout(0.5).eval(), torch.nn.Dropout(0.5).eval()),
        (nn.Dropout(0.0), torch.nn.Dropout(0.0)),
    ):
        run_both(ours, theirs, images((4, 6)), "Dropout")


def test_dropout_in_training_scales_kept_values_by_one_over_one_minus_p():
    """Which entries drop is random in both; what is compared is the rule: 0 or x / (1 - p), same gradient mask."""
    x = Tensor(np.ones((50, 40), dtype=np.float32), requires_grad=True)
    out = nn.Dropout(0.25)(x)
    reference = torch.nn.Dropout(0.25)(torch.ones(50, 40))
    assert set(np.unique(out.data)) == set(np.unique(reference.numpy()))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, out.data)


def test_sequential_model_with_every_kind_of_layer():
    def build(n):
        return n.Sequential(
            n.Conv2d(3, 4, 3, padding=1), n.BatchNorm2d(4), n.ReLU(), n.MaxPool2d(2),
            n.Conv2d(4, 6, 3), n.GELU(), n.AvgPool2d(2), n.Flatten(), n.Linear(6, 5), n.Tanh(),
        )  # fmt: skip

    ours, theirs = build(nn), build(torch.nn)
    check_module(ours, theirs, images((3, 3, 10, 10), seed=7), "Sequential CNN")


def test_simple_cnn_on_half_black_images():
    """The case that found ReLU's gradient at 0 (issue 19): half of every image exactly 0."""
    from tinytorch.models import SimpleCNN

    ours = SimpleCNN()

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.Conv2d(32, 64, 3, padding=1)
            self.pool1, self.pool2, self.fc = torch.nn.MaxPool2d(2), torch.nn.MaxPool2d(2), torch.nn.Linear(4096, 10)

        def forward(self, x):
            x = self.pool1(torch.relu(self.conv1(x)))
            x = self.pool2(torch.relu(self.conv2(x)))
            return self.fc(x.flatten(1))

    x = images((2, 3, 32, 32), seed=8)
    x[:, :, :, 16:] = 0.0
    check_module(ours, Theirs(), x, "SimpleCNN")
