"""Module 09: every spatial layer's backward pass agrees with float64 finite differences."""

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.autograd import gradcheck
from tinytorch.nn import AvgPool2d, BatchNorm2d, Conv2d, Flatten, MaxPool2d

pytestmark = pytest.mark.m09


def leaf(array):
    return Tensor(array, requires_grad=True, dtype=np.float64)


def distinct_values(rng, shape):
    """Values at least 0.1 apart, so no max-pool window holds a near-tie that finite differences would cross."""
    return rng.permutation(np.arange(np.prod(shape))).reshape(shape) * 0.1 - 1.0


@pytest.mark.parametrize(
    "x_shape, channels_out, kernel, stride, padding, bias",
    [
        ((2, 2, 5, 5), 3, 3, 1, 1, True),
        ((1, 3, 6, 4), 2, (3, 2), (2, 1), (1, 0), True),
        ((2, 1, 7, 5), 2, 3, 2, 0, False),
        ((1, 2, 4, 6), 3, (1, 3), 1, (0, 2), False),
        ((2, 2, 5, 7), 1, 2, (1, 3), 1, True),
    ],
)
def test_conv2d_gradcheck(x_shape, channels_out, kernel, stride, padding, bias):
    rng = np.random.default_rng(0)
    conv = Conv2d(x_shape[1], channels_out, kernel, stride=stride, padding=padding, bias=bias).double()
    x = leaf(rng.standard_normal(x_shape))
    params = [conv.weight] + ([conv.bias] if bias else [])
    assert gradcheck(lambda x, *params: conv(x), [x, *params])


@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 2, 1), (3, 1, 0), ((2, 3), (2, 1), (1, 1))])
def test_maxpool2d_gradcheck(kernel, stride, padding):
    pool = MaxPool2d(kernel, stride=stride, padding=padding)
    x = leaf(distinct_values(np.random.default_rng(1), (2, 2, 6, 5)))
    assert gradcheck(pool, [x])


@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 2, 1), (3, 1, 0), ((2, 3), (2, 1), (1, 1))])
def test_avgpool2d_gradcheck(kernel, stride, padding):
    pool = AvgPool2d(kernel, stride=stride, padding=padding)
    x = leaf(np.random.default_rng(2).standard_normal((2, 2, 6, 5)))
    assert gradcheck(pool, [x])


def test_batchnorm2d_gradcheck_in_training_mode():
    rng = np.random.default_rng(3)
    bn = BatchNorm2d(3).double()
    bn.weight.data[...] = rng.uniform(0.5, 2.0, 3)
    bn.bias.data[...] = rng.standard_normal(3)
    x = leaf(rng.standard_normal((4, 3, 3, 2)) * 2 + 1)
    assert gradcheck(lambda x, w, b: bn(x), [x, bn.weight, bn.bias])


def test_batchnorm2d_gradcheck_in_eval_mode():
    rng = np.random.default_rng(4)
    bn = BatchNorm2d(2).double()
    bn.running_mean.data[...] = [0.5, -1.0]
    bn.running_var.data[...] = [2.0, 0.25]
    bn.eval()
    x = leaf(rng.standard_normal((3, 2, 2, 3)))
    assert gradcheck(lambda x, w, b: bn(x), [x, bn.weight, bn.bias])


def test_batchnorm2d_gradcheck_on_channels_last_input():
    """BatchNorm2d after a Conv2d sees channels-last memory; its gradient must not depend on the layout."""
    rng = np.random.default_rng(5)
    conv, bn = Conv2d(2, 3, 3, padding=1).double(), BatchNorm2d(3).double()
    x = leaf(rng.standard_normal((2, 2, 4, 4)))
    assert gradcheck(lambda x, w: bn(conv(x)), [x, conv.weight])


def test_flatten_keeps_the_graph():
    rng = np.random.default_rng(6)
    x = leaf(rng.standard_normal((2, 3, 2, 2)))
    weights = leaf(rng.standard_normal((12, 4)))
    assert gradcheck(lambda x, w: Flatten()(x) @ w, [x, weights])
    conv = Conv2d(3, 2, 1).double()
    Flatten()(conv(x)).sum().backward()
    assert conv.weight.grad is not None and np.abs(conv.weight.grad.data).sum() > 0


def test_a_small_cnn_gradchecks_end_to_end():
    rng = np.random.default_rng(7)
    conv, bn, pool = Conv2d(1, 2, 3, padding=1).double(), BatchNorm2d(2).double(), MaxPool2d(2)
    x = leaf(rng.standard_normal((2, 1, 4, 4)))

    def net(x, w):
        return Flatten()(pool(bn(conv(x)).clip(min=0)))

    assert gradcheck(net, [x, conv.weight])
