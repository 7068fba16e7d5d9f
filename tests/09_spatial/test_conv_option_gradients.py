"""Module 09: groups, dilation and padding="same" against the loop definition and float64 finite differences."""

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.autograd import gradcheck
from tinytorch.nn import AvgPool2d, Conv2d, MaxPool2d
from tinytorch.nn.conv import DepthwiseSeparableConv2d
from tinytorch.nn.counting import conv_flops, count_parameters, receptive_field
from tinytorch.nn.kernels import conv2d_loops

pytestmark = pytest.mark.m09


@pytest.mark.parametrize(
    "options",
    [
        {"groups": 2, "padding": 1},
        {"groups": 4, "dilation": 2, "padding": 2},
        {"dilation": (2, 1), "padding": "same"},
        {"groups": 2, "dilation": (1, 3), "padding": "same"},
        {"groups": 4, "kernel_size": (3, 1), "stride": (1, 2)},
    ],
)
def test_conv_options_pass_gradcheck_and_match_the_loops(options):
    options = dict(options)
    kernel = options.pop("kernel_size", 3)
    rng = np.random.default_rng(0)
    conv = Conv2d(4, 8, kernel, **options).double()
    x = Tensor(rng.standard_normal((2, 4, 7, 6)), requires_grad=True, dtype=np.float64)
    out = conv(x)
    expected = conv2d_loops(
        x.data, conv.weight.data, conv.bias.data, conv.stride, conv.padding, conv.dilation, conv.groups
    )
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda x, w, b: conv(x), [x, conv.weight, conv.bias])
    if options.get("padding") == "same":
        assert out.shape[2:] == x.shape[2:]


def test_pool_options_pass_gradcheck():
    x = Tensor(
        np.random.default_rng(1).permutation(2 * 3 * 7 * 8).reshape(2, 3, 7, 8) * 0.1,
        requires_grad=True,
        dtype=np.float64,
    )
    assert gradcheck(lambda x: MaxPool2d(3, 2, 1, ceil_mode=True)(x) * 1.0, [x])
    assert gradcheck(lambda x: AvgPool2d(3, 2, 1, count_include_pad=False)(x) * 1.0, [x])


def test_bad_options_are_one_line_errors():
    with pytest.raises(ValueError, match="groups=3 must divide"):
        Conv2d(4, 6, 3, groups=3)
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        Conv2d(4, 6, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding='same'"):
        Conv2d(4, 6, 2, padding="same")


def test_depthwise_separable_counts_against_a_plain_convolution():
    plain, separable = Conv2d(64, 128, 3, padding=1), DepthwiseSeparableConv2d(64, 128, 3, padding=1)
    assert count_parameters(plain) == 64 * 128 * 9 + 128
    assert count_parameters(separable) == 64 * 9 + 64 * 128 + 128
    assert conv_flops(plain, 16) == 2 * 128 * 16 * 16 * 64 * 9
    assert conv_flops(separable, 16) == 2 * 64 * 16 * 16 * 9 + 2 * 128 * 16 * 16 * 64
    assert receptive_field([separable, separable]) == 5
