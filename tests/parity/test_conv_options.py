"""Conv2d's groups, dilation and padding="same", and the pools' ceil_mode / count_include_pad, against PyTorch.

Each case runs the same float64 numbers through tinytorch and torch and compares the output and every
gradient (input, weight, bias). The finite-difference gradchecks of the same options are in
tests/09_spatial/test_conv_option_gradients.py: they need no torch.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.nn import AvgPool2d, Conv2d, MaxPool2d
from tinytorch.nn.conv import DepthwiseSeparableConv2d

torch = pytest.importorskip("torch", reason="the parity tests compare with PyTorch: pip install torch==2.13.0")

pytestmark = pytest.mark.m09

CONV_CASES = [  # (in, out, kernel, stride, padding, dilation, groups, input shape)
    (4, 6, 3, 1, 1, 1, 2, (2, 4, 7, 6)),
    (3, 3, 3, 1, 2, 2, 3, (2, 3, 9, 8)),  # depthwise, dilated
    (4, 8, (3, 5), (2, 1), (1, 2), (1, 2), 4, (1, 4, 8, 9)),
    (6, 4, 3, 1, "same", (2, 3), 2, (2, 6, 10, 11)),
    (2, 5, 5, 1, "same", 1, 1, (3, 2, 6, 6)),
    (4, 4, 3, 2, 1, 2, 1, (2, 4, 11, 10)),
]


def _pair(value):
    return value if isinstance(value, (tuple, str)) else (value, value)


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda case: f"g{case[6]}-d{case[5]}-p{case[4]}")
def test_conv2d_options_match_pytorch(case):
    c_in, c_out, kernel, stride, padding, dilation, groups, shape = case
    rng = np.random.default_rng(0)
    ours = Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups).double()
    ours.weight.data[...] = rng.standard_normal(ours.weight.shape)
    ours.bias.data[...] = rng.standard_normal(ours.bias.shape)
    theirs = torch.nn.Conv2d(
        c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups
    ).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
        theirs.bias.copy_(torch.from_numpy(ours.bias.data))
    x = rng.standard_normal(shape)
    x_ours, x_theirs = Tensor(x, requires_grad=True, dtype=np.float64), torch.tensor(x, requires_grad=True)
    out_ours, out_theirs = ours(x_ours), theirs(x_theirs)
    np.testing.assert_allclose(out_ours.data, out_theirs.detach().numpy(), rtol=1e-10, atol=1e-10)
    grad = rng.standard_normal(out_ours.shape)
    out_ours.backward(grad)
    out_theirs.backward(torch.from_numpy(grad))
    for got, want in ((x_ours, x_theirs), (ours.weight, theirs.weight), (ours.bias, theirs.bias)):
        np.testing.assert_allclose(got.grad.data, want.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_depthwise_separable_is_a_depthwise_then_a_pointwise_convolution():
    rng = np.random.default_rng(1)
    ours = DepthwiseSeparableConv2d(3, 5, 3, padding=1).double()
    x = rng.standard_normal((2, 3, 6, 6))
    depthwise = torch.nn.functional.conv2d(
        torch.from_numpy(x), torch.from_numpy(ours.depthwise.weight.data), padding=1, groups=3
    )
    expected = torch.nn.functional.conv2d(
        depthwise, torch.from_numpy(ours.pointwise.weight.data), torch.from_numpy(ours.pointwise.bias.data)
    )
    np.testing.assert_allclose(ours(Tensor(x, dtype=np.float64)).data, expected.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "shape, kernel, stride, padding",
    [((2, 3, 7, 7), 2, 2, 0), ((1, 2, 9, 8), 3, 2, 1), ((2, 2, 10, 11), 3, 3, 1), ((1, 1, 5, 5), 2, 1, 1)],
)
def test_maxpool_ceil_mode_matches_pytorch(shape, kernel, stride, padding):
    x = np.random.default_rng(2).permutation(int(np.prod(shape))).reshape(shape).astype(np.float64)
    x_ours, x_theirs = Tensor(x, requires_grad=True, dtype=np.float64), torch.tensor(x, requires_grad=True)
    out_ours = MaxPool2d(kernel, stride, padding, ceil_mode=True)(x_ours)
    out_theirs = torch.nn.functional.max_pool2d(x_theirs, kernel, stride, padding, ceil_mode=True)
    np.testing.assert_array_equal(out_ours.data, out_theirs.detach().numpy())
    grad = np.random.default_rng(3).standard_normal(out_ours.shape)
    out_ours.backward(grad)
    out_theirs.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(x_ours.grad.data, x_theirs.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape, kernel, stride, padding", [((2, 3, 7, 7), 3, 2, 1), ((1, 2, 6, 9), (3, 5), 1, (1, 2))])
def test_avgpool_count_include_pad_false_matches_pytorch(shape, kernel, stride, padding):
    x = np.random.default_rng(4).standard_normal(shape)
    x_ours, x_theirs = Tensor(x, requires_grad=True, dtype=np.float64), torch.tensor(x, requires_grad=True)
    out_ours = AvgPool2d(kernel, stride, padding, count_include_pad=False)(x_ours)
    out_theirs = torch.nn.functional.avg_pool2d(x_theirs, kernel, stride, padding, count_include_pad=False)
    np.testing.assert_allclose(out_ours.data, out_theirs.detach().numpy(), rtol=1e-12)
    grad = np.random.default_rng(5).standard_normal(out_ours.shape)
    out_ours.backward(grad)
    out_theirs.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(x_ours.grad.data, x_theirs.grad.numpy(), rtol=1e-12)


def test_one_image_without_a_batch_dimension_matches_pytorch():
    rng = np.random.default_rng(6)
    ours = Conv2d(3, 4, 3, padding=1).double()
    theirs = torch.nn.Conv2d(3, 4, 3, padding=1).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
        theirs.bias.zero_()
    x = rng.standard_normal((3, 5, 5))
    out = MaxPool2d(2)(ours(Tensor(x, dtype=np.float64)))
    expected = torch.nn.functional.max_pool2d(theirs(torch.from_numpy(x)), 2)
    assert out.shape == tuple(expected.shape) == (4, 2, 2)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10)
