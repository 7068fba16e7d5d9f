"""Module 09: the vectorised convolution computes the definition, shares its weights, and commutes with shifts."""

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.nn import AvgPool2d, Conv2d, MaxPool2d
from tinytorch.nn.kernels import conv2d_backward, conv2d_forward, conv2d_loops, maxpool2d_forward, maxpool2d_loops

pytestmark = pytest.mark.m09


def cl(array):
    """(N, C, H, W) -> the channels-last (N, H, W, C) view the kernels work on."""
    return array.transpose(0, 2, 3, 1)


def cf(array):
    """(N, H, W, C) -> (N, C, H, W)."""
    return array.transpose(0, 3, 1, 2)


# (x shape, weight shape, stride, padding): channels 1..4, square and non-square, strides that do not divide.
CONFIGS = [
    ((2, 3, 7, 7), (4, 3, 3, 3), (1, 1), (1, 1)),
    ((1, 1, 8, 6), (2, 1, 5, 5), (1, 1), (0, 0)),
    ((2, 2, 9, 7), (3, 2, 3, 2), (2, 1), (1, 0)),
    ((1, 4, 6, 10), (2, 4, 2, 4), (3, 2), (2, 1)),
    ((3, 1, 5, 5), (1, 1, 1, 1), (2, 2), (0, 0)),
]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", CONFIGS)
def test_vectorised_conv_matches_loops(x_shape, w_shape, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(np.float32)
    weight = rng.standard_normal(w_shape).astype(np.float32)
    bias = rng.standard_normal(w_shape[0]).astype(np.float32)
    fast = cf(conv2d_forward(cl(x), weight, bias, stride, padding))
    slow = conv2d_loops(x, weight, bias, stride, padding)
    assert fast.dtype == np.float32 and fast.shape == slow.shape
    np.testing.assert_allclose(fast, slow, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kernel, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 1, 1), ((2, 3), (1, 2), (1, 0))])
def test_vectorised_maxpool_matches_loops(kernel, stride, padding):
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 8)).astype(np.float32)
    pool = MaxPool2d(kernel, stride=stride, padding=padding)
    np.testing.assert_array_equal(pool(Tensor(x)).data, maxpool2d_loops(x, kernel, stride, padding))


def test_conv_layer_uses_its_weight_and_bias():
    conv = Conv2d(3, 5, kernel_size=3, stride=2, padding=1)
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 9)).astype(np.float32)
    expected = conv2d_loops(x, conv.weight.data, conv.bias.data + 0.5, 2, 1)
    conv.bias.data[...] += 0.5
    np.testing.assert_allclose(conv(Tensor(x)).data, expected, atol=1e-5)


def test_impulse_response_is_the_kernel_everywhere():
    """Weight sharing: an impulse anywhere draws the same (flipped) kernel around it."""
    conv = Conv2d(1, 1, kernel_size=3, padding=1, bias=False)
    kernel = conv.weight.data[0, 0]
    for row, col in [(1, 1), (4, 6), (6, 2)]:
        image = np.zeros((1, 1, 8, 8), dtype=np.float32)
        image[0, 0, row, col] = 1.0
        response = conv(Tensor(image)).data[0, 0]
        np.testing.assert_allclose(response[row - 1 : row + 2, col - 1 : col + 2], kernel[::-1, ::-1])
        response[row - 1 : row + 2, col - 1 : col + 2] = 0
        assert not response.any(), "nothing outside the kernel's reach"


def test_convolution_is_translation_equivariant():
    rng = np.random.default_rng(3)
    conv = Conv2d(2, 4, kernel_size=3, padding=1)
    image = np.zeros((1, 2, 16, 16), dtype=np.float32)
    image[:, :, 4:9, 3:8] = rng.standard_normal((1, 2, 5, 5))  # an object well inside the frame
    shifted = np.roll(image, (3, 5), axis=(2, 3))
    out, out_shifted = conv(Tensor(image)).data, conv(Tensor(shifted)).data
    np.testing.assert_allclose(np.roll(out, (3, 5), axis=(2, 3)), out_shifted, atol=1e-6)


def test_max_pooling_adds_invariance_to_small_shifts():
    """A shift inside the pooling window leaves max-pooled features unchanged; the conv map alone changes."""
    image = np.zeros((1, 1, 8, 8), dtype=np.float32)
    image[0, 0, 2, 4] = 1.0
    moved = np.zeros_like(image)
    moved[0, 0, 3, 5] = 1.0  # one pixel down and right, inside the same 2x2 window
    pool = MaxPool2d(2)
    np.testing.assert_array_equal(pool(Tensor(image)).data, pool(Tensor(moved)).data)
    assert not np.array_equal(image, moved)
    # Conv (equivariant) followed by a max pool over the whole map: the features do not move at all.
    rng = np.random.default_rng(7)
    conv = Conv2d(1, 3, kernel_size=3, padding=1)
    global_pool = MaxPool2d(16)
    obj = np.zeros((1, 1, 16, 16), dtype=np.float32)
    obj[0, 0, 5:9, 5:8] = rng.standard_normal((4, 3))
    features = global_pool(conv(Tensor(obj))).data
    for shift in [(1, 0), (-2, 3), (4, -4)]:
        moved_obj = np.roll(obj, shift, axis=(2, 3))
        assert not np.allclose(conv(Tensor(obj)).data, conv(Tensor(moved_obj)).data)
        np.testing.assert_allclose(global_pool(conv(Tensor(moved_obj))).data, features, atol=1e-6)


def test_average_pooling_is_invariant_to_shifts_inside_a_window():
    image = np.zeros((1, 1, 4, 4), dtype=np.float32)
    image[0, 0, 0, 0] = 4.0
    moved = np.roll(image, 1, axis=3)
    np.testing.assert_array_equal(AvgPool2d(2)(Tensor(image)).data, AvgPool2d(2)(Tensor(moved)).data)


def test_input_gradient_is_a_convolution_with_the_flipped_kernel():
    """For stride 1: dx = conv(pad(dout, K-1-P), weight flipped in space with in/out channels swapped)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 6, 5))
    weight = rng.standard_normal((4, 3, 3, 3))
    out = cf(conv2d_forward(cl(x), weight, None, (1, 1), (1, 1)))
    dout = rng.standard_normal(out.shape)
    dx, _, _ = conv2d_backward(cl(dout), cl(x), weight, (1, 1), (1, 1))
    dx = cf(dx)
    flipped = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    np.testing.assert_allclose(dx, conv2d_loops(dout, flipped, None, 1, 3 - 1 - 1), atol=1e-10)


def test_weight_gradient_sums_over_every_position():
    """Weight sharing in learning: a 1x1 kernel's gradient is the sum over all pixels of input * dout."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4, 5))
    weight = rng.standard_normal((2, 3, 1, 1))
    out = cf(conv2d_forward(cl(x), weight, None, (1, 1), (0, 0)))
    dout = rng.standard_normal(out.shape)
    _, dweight, dbias = conv2d_backward(cl(dout), cl(x), weight, (1, 1), (0, 0))
    np.testing.assert_allclose(dweight[:, :, 0, 0], np.einsum("nohw,nchw->oc", dout, x), atol=1e-10)
    np.testing.assert_allclose(dbias, dout.sum(axis=(0, 2, 3)), atol=1e-10)


def test_channels_last_memory_is_invisible():
    """Conv2d's output is channels-last in memory; every later operation sees plain (N, C, H, W) values."""
    rng = np.random.default_rng(6)
    conv = Conv2d(3, 4, kernel_size=3, padding=1)
    x = Tensor(rng.standard_normal((2, 3, 5, 5)), dtype=np.float32)
    out = conv(x)
    assert out.shape == (2, 4, 5, 5)
    assert out.data.transpose(0, 2, 3, 1).flags.c_contiguous
    reference = conv2d_loops(x.data, conv.weight.data, conv.bias.data, 1, 1)
    np.testing.assert_allclose(out.data, reference, atol=1e-5)
    np.testing.assert_allclose(out.flatten(1).data, reference.reshape(2, -1), atol=1e-5)
    np.testing.assert_allclose(out[:, 1].data, reference[:, 1], atol=1e-5)
    pooled, _ = maxpool2d_forward(cl(out.data), (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(cf(pooled), maxpool2d_loops(out.data, 2))
    second = Conv2d(4, 2, kernel_size=2)  # no padding: it reads the channels-last input in place
    np.testing.assert_allclose(
        second(out).data, conv2d_loops(reference, second.weight.data, second.bias.data), atol=1e-5
    )
