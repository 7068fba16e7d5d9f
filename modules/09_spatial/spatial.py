# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 09: Spatial (convolutional networks)
#
# A photograph is not a list of numbers. Neighbouring pixels belong together, and a cat is a cat
# whether it sits on the left of the picture or on the right. Convolutional networks build both facts
# into the layer itself: a small filter looks at one neighbourhood at a time, and the *same* filter
# slides over every position of the image. In this module you build the layers of every classic CNN.
#
# You write, in this order, each followed at once by its test:
# 1. the output size of a sliding window;
# 2. convolution and max pooling as explicit loops, straight from their definitions;
# 3. **im2col**, one copy that lays every window of a whole batch out as a row of a matrix;
# 4. the convolution as im2col and **one matrix multiply**;
# 5. its backward pass: the weight, bias and input gradients, checked against finite differences;
# 6. max and average pooling, forward and backward;
# 7. batch normalisation's statistics and backward pass.
#
# Then comes given code, to read rather than write: **making it fast** (slices of the batch sized to
# the cache, spread over the cores, calling *your* kernels on each slice), and the layers built on it:
# `Conv2d`, `MaxPool2d`, `AvgPool2d`, `BatchNorm2d`, `Flatten`, and `SimpleCNN`, a complete network.
#
# **The systems view.** A convolution is a lot of arithmetic on very few weights: `Conv2d(32, 64, 3)`
# has 18,496 parameters but on a batch of 128 images of 16x16 it performs 1.2 billion floating-point
# operations. Written as Python loops that takes minutes; written as one matrix multiply it takes a
# few milliseconds, because BLAS runs the multiply at close to the processor's peak. The price is
# memory: im2col copies every input pixel once per kernel position (9 times for a 3x3 kernel). The
# cells at the end measure all of this on your machine, and draw what a trained network has learned.
#
# Run this file (`python modules/09_spatial/spatial.py`) at any stage: it runs every test, then the
# measurements, and ends with how many tests pass and which functions are still to write.

# %%
#| default_exp nn.conv

# %%
#| export
import contextlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinytorch.autograd.function import Function
from tinytorch.autograd import gradcheck
from tinytorch.tensor import Tensor, as_tensor
from tinytorch.nn.activations import relu
from tinytorch.nn.init import kaiming_uniform
from tinytorch.nn.linear import Linear
from tinytorch.nn.module import Module, Parameter

# %% [markdown]
# ## Sizes first: what comes out of a convolution
#
# A kernel of size K slides over an input of size H with step S (the stride), after P zeros are added
# on each border (the padding). The first window starts at 0, the last must end inside the padded
# input of size H + 2P, so the number of positions is
#
#     output size = (H + 2P - K) // S + 1
#
# Two cases to remember: a 3x3 kernel with padding 1 and stride 1 keeps the size ("same" padding),
# and a 2x2 pool with stride 2 halves it. Every layer in this module takes its sizes as an int (the
# same for height and width) or as a (height, width) pair, like PyTorch.

# %%
#| export nn.kernels
#| doc The spatial kernels the course teaches: convolution, pooling and batch norm, as explicit loops and vectorised
def _pair(value, name: str) -> tuple:
    """3 -> (3, 3); (3, 5) stays (3, 5). Sizes are given for height and width, or once for both."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints (height, width), got {value!r}.")
    return int(pair[0]), int(pair[1])


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """How many positions a kernel takes along one axis: (size + 2*padding - kernel_size) // stride + 1."""
    ### BEGIN SOLUTION
    positions = (size + 2 * padding - kernel_size) // stride + 1
    ### END SOLUTION
    if positions < 1:
        raise ValueError(
            f"a kernel of size {kernel_size} does not fit an input of size {size} with padding {padding}: "
            "use a larger input, more padding or a smaller kernel."
        )
    return positions


# %%
def test_unit_output_size():
    assert conv_output_size(32, 3, 1, 1) == 32, "3x3 with padding 1 keeps the size"
    assert conv_output_size(32, 2, 2, 0) == 16, "a 2x2 pool with stride 2 halves it"
    assert conv_output_size(28, 5) == 24 and conv_output_size(7, 3, 2, 1) == 4 and conv_output_size(9, 3, 2, 1) == 5
    try:
        conv_output_size(2, 5)
    except ValueError as error:
        assert "does not fit" in str(error)
    else:
        raise AssertionError("a kernel larger than the padded input must raise")
    print("output size: (H + 2P - K) // S + 1, and a kernel that does not fit is refused")


# %% [markdown]
# ## Convolution as loops: the definition
#
# For an input `x` of shape (N, C, H, W) and weights of shape (OC, C, KH, KW), output channel `o` at
# position (i, j) is the bias plus the sum, over every input channel and kernel offset, of input times
# weight:
#
#     out[n, o, i, j] = bias[o] + sum over c, u, v of  x[n, c, i*S + u, j*S + v] * weight[o, c, u, v]
#
# (x padded with P zeros on each border.) The function below is that formula and nothing else: seven
# nested loops, one multiply-add at a time. It is the reference every faster version is tested against,
# and a measurement of how slow Python is at arithmetic: every multiply-add costs a few hundred
# nanoseconds of interpreter work. Max pooling by the definition is the same walk with `max` instead of
# a weighted sum, over each channel on its own.
#
# (Deep-learning "convolution" is, strictly, cross-correlation: the kernel is not flipped. Nothing is
# lost, since the network learns the kernel either way.)

# %%
#| export nn.kernels
def _pad_spatial(x: np.ndarray, padding: tuple, value=0.0) -> np.ndarray:
    """x (N, C, H, W) with `value` added around H and W; x itself when there is no padding."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def conv2d_loops(x, weight, bias=None, stride=1, padding=0) -> np.ndarray:
    """Convolution by the definition, one multiply-add at a time (for teaching and for tests).

    x (N, C, H, W), weight (OC, C, KH, KW), bias (OC,) or None; NumPy arrays or Tensors.
    """
    x, weight = np.asarray(getattr(x, "data", x)), np.asarray(getattr(weight, "data", weight))
    bias = None if bias is None else np.asarray(getattr(bias, "data", bias))
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(padding, "padding")
    n_images, channels, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    oh, ow = conv_output_size(height, kh, sh, ph), conv_output_size(width, kw, sw, pw)
    xp = _pad_spatial(x, (ph, pw))
    out = np.zeros((n_images, out_channels, oh, ow), dtype=np.result_type(x, weight))
    # Hint: loop n, o, i, j over the output; start each total at the bias (or 0), then add
    # xp[n, c, i*sh + u, j*sw + v] * weight[o, c, u, v] for every c, u, v.
    ### BEGIN SOLUTION
    for n in range(n_images):
        for o in range(out_channels):
            for i in range(oh):
                for j in range(ow):
                    total = 0.0 if bias is None else bias[o]
                    for c in range(channels):
                        for u in range(kh):
                            for v in range(kw):
                                total += xp[n, c, i * sh + u, j * sw + v] * weight[o, c, u, v]
                    out[n, o, i, j] = total
    ### END SOLUTION
    return out


def maxpool2d_loops(x, kernel_size, stride=None, padding=0) -> np.ndarray:
    """Max pooling by the definition, one comparison at a time (for teaching and for tests)."""
    x = np.asarray(getattr(x, "data", x))
    (kh, kw) = _pair(kernel_size, "kernel_size")
    (sh, sw), (ph, pw) = _pair(stride if stride is not None else kernel_size, "stride"), _pair(padding, "padding")
    n_images, channels, height, width = x.shape
    oh, ow = conv_output_size(height, kh, sh, ph), conv_output_size(width, kw, sw, pw)
    xp = _pad_spatial(x, (ph, pw), value=-np.inf)
    out = np.empty((n_images, channels, oh, ow), dtype=x.dtype)
    # Hint: for each output (n, c, i, j), keep the largest xp[n, c, i*sh + u, j*sw + v] over the window's u, v.
    ### BEGIN SOLUTION
    for n in range(n_images):
        for c in range(channels):
            for i in range(oh):
                for j in range(ow):
                    best = -np.inf
                    for u in range(kh):
                        for v in range(kw):
                            value = xp[n, c, i * sh + u, j * sw + v]
                            if value > best:
                                best = value
                    out[n, c, i, j] = best
    ### END SOLUTION
    return out


# %%
def test_unit_loops():
    image = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    corner = np.zeros((1, 1, 2, 2))
    corner[0, 0, 0, 0] = 1.0  # picks the window's top-left pixel
    assert conv2d_loops(image, corner).tolist() == [[[[0, 1, 2], [4, 5, 6], [8, 9, 10]]]]
    ones = np.ones((2, 1, 3, 3))  # two output channels: the window's sum, plus a bias
    out = conv2d_loops(image, ones, bias=np.array([0.0, 100.0]), padding=1)
    assert out.shape == (1, 2, 4, 4) and out[0, 0, 0, 0] == 0 + 1 + 4 + 5 and out[0, 1, 1, 1] == 100 + 45
    strided = conv2d_loops(image, corner, stride=(2, 1))
    assert strided.shape == (1, 1, 2, 3) and strided[0, 0, 1].tolist() == [8, 9, 10]
    assert maxpool2d_loops(image, 2).tolist() == [[[[5, 7], [13, 15]]]]
    assert maxpool2d_loops(-image, 3, stride=1, padding=1)[0, 0, 0, 0] == 0, "padding never wins a max"
    print("loops: a one-pixel kernel copies the image, ones sum each window, strides skip, max pooling keeps maxima")


# %% [markdown]
# ## Channels last
#
# From here on the kernels work on arrays in (N, H, W, C) order, "channels last": then the numbers of
# one window row, (v, c) for v in 0..KW-1, sit next to each other in memory, so copying a window reads
# long contiguous runs, and a matrix with one row per pixel and one column per channel is just a
# reshape. PyTorch calls this layout `torch.channels_last`. The layers keep PyTorch's (N, C, H, W)
# shape on the outside and hand the kernels a channels-last *view*, `x.transpose(0, 2, 3, 1)`, which
# copies nothing: NumPy just reads the same memory with other strides.

# %%
#| export nn.kernels
def _channels_last(x: np.ndarray) -> np.ndarray:
    """A view of x (N, C, H, W) in (N, H, W, C) order; contiguous if x is channels-last in memory."""
    return x.transpose(0, 2, 3, 1)


def _channels_first(x: np.ndarray) -> np.ndarray:
    """The inverse view: (N, H, W, C) -> (N, C, H, W), memory untouched."""
    return x.transpose(0, 3, 1, 2)


def _pad_channels_last(x: np.ndarray, padding: tuple, value=0.0) -> np.ndarray:
    """x (N, H, W, C) with `value` added around H and W; x itself when there is no padding."""
    ph, pw = padding
    if not (ph or pw):
        return x
    n, h, w, c = x.shape
    padded = np.empty((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)
    padded[:, :ph] = value
    padded[:, h + ph :] = value
    padded[:, ph : h + ph, :pw] = value
    padded[:, ph : h + ph, w + pw :] = value
    padded[:, ph : h + ph, pw : w + pw] = x
    return padded


def _offsets(kernel_size: tuple) -> list:
    """The offsets (u, v) of a window, row by row: (0, 0), (0, 1), ..., (KH - 1, KW - 1)."""
    return [(u, v) for u in range(kernel_size[0]) for v in range(kernel_size[1])]


def _window_values(x: np.ndarray, offset: tuple, stride: tuple, out_size: tuple) -> np.ndarray:
    """The value at offset (u, v) of every window: one strided slice of x (N, H, W, C), (N, OH, OW, C)."""
    (u, v), (sh, sw), (oh, ow) = offset, stride, out_size
    return x[:, u : u + sh * oh : sh, v : v + sw * ow : sw]


# %% [markdown]
# ## im2col: every window as one row
#
# Look at the convolution formula again: for a fixed output pixel, the sum over (c, u, v) is a dot
# product between the window of the input under the kernel and the kernel itself. Lay every window out
# as one row of a matrix `cols` (one row per output pixel, one column per (u, v, c) position of the
# window), and lay the kernels out as the columns of a matrix `W`: then *every* output of the layer is
# one entry of `cols @ W`. That rearrangement is called im2col ("image to columns").
#
# **Windows without copying.** `numpy.lib.stride_tricks.sliding_window_view` gives a view of every
# window: for a padded input (N, H, W, C) and axes (1, 2), an array of shape (N, OH', OW', C, KH, KW)
# whose elements *are* the input's memory, read with clever strides, no copy made. A stride S > 1 is a
# slice `[:, ::S, ::S]` of that view. Only when we reshape the windows into `cols` is anything copied,
# and we do it in one go: transpose the view to (N, OH, OW, KH, KW, C), so each row reads in (u, v, c)
# order, and reshape it to (N*OH*OW, KH*KW*C).
#
# **The memory bill.** `cols` holds KH*KW copies of every input pixel: for a 3x3 kernel, 9 times the
# input. For the second convolution of SimpleCNN on a batch of 128 that is 36 MiB. "Making it fast",
# below, shows how the layers avoid ever holding it all at once.

# %%
#| export nn.kernels
def im2col(x: np.ndarray, kernel_size: tuple, stride: tuple, padding: tuple) -> np.ndarray:
    """Every window of x (N, H, W, C) as one row: a (N*OH*OW, KH*KW*C) matrix, columns in (u, v, c) order."""
    kh, kw = kernel_size
    sh, sw = stride
    padded = _pad_channels_last(x, padding)
    # Hint: sliding_window_view(padded, (kh, kw), axis=(1, 2)) views every window as (N, OH', OW', C, KH, KW);
    # slice [:, ::sh, ::sw] for the stride, transpose it to (N, OH, OW, KH, KW, C) and reshape it to
    # (N*OH*OW, KH*KW*C): that reshape is the one copy.
    ### BEGIN SOLUTION
    windows = sliding_window_view(padded, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]  # (N, OH, OW, C, KH, KW)
    n, oh, ow, c = windows.shape[:4]
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, kh * kw * c)
    ### END SOLUTION


# %%
def test_unit_im2col():
    x = np.arange(2 * 4 * 5 * 3, dtype=np.float64).reshape(2, 4, 5, 3)  # (N, H, W, C)
    cols = im2col(x, (2, 3), (1, 2), (0, 1))
    assert cols.shape == (2 * 3 * 3, 2 * 3 * 3), "(N*OH*OW, KH*KW*C) with OH = 3 and OW = 3"
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))
    row = 1 * 9 + 2 * 3 + 1  # image 1, output pixel (2, 1): the window starts at row 2, column 1 * 2
    assert np.array_equal(cols[row], padded[1, 2:4, 2:5, :].reshape(-1)), "one row is one window in (u, v, c) order"
    print("im2col: (N*OH*OW, KH*KW*C) rows, each one window read in (u, v, c) order, strides and padding included")


# %% [markdown]
# ## The convolution as one matrix multiply
#
# With the kernels laid out as the columns of a (KH*KW*C, OC) matrix in the same (u, v, c) order as
# the rows of `cols` (`_weight_matrix`, given), the whole layer is `cols @ W`, plus the bias added to
# every row. The product has one row per output pixel, (N*OH*OW) rows, and one column per output
# channel: reshaped to (N, OH, OW, OC), that *is* the channels-last output. No transpose needed.

# %%
#| export nn.kernels
def _weight_matrix(weight: np.ndarray) -> np.ndarray:
    """Kernels (OC, C, KH, KW) as the columns of a (KH*KW*C, OC) matrix, rows in im2col's (u, v, c) order."""
    out_channels = weight.shape[0]
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0)).reshape(-1, out_channels)


def conv2d_forward(x: np.ndarray, weight: np.ndarray, bias, stride: tuple, padding: tuple) -> np.ndarray:
    """Convolution of x (N, H, W, C) with weight (OC, C, KH, KW) and bias (OC,) or None: (N, OH, OW, OC)."""
    n, height, width, _ = x.shape
    out_channels, _, kh, kw = weight.shape
    oh = conv_output_size(height, kh, stride[0], padding[0])
    ow = conv_output_size(width, kw, stride[1], padding[1])
    # Hint: im2col, times _weight_matrix(weight), plus the bias when there is one (it broadcasts over
    # the rows), reshaped to (n, oh, ow, out_channels).
    ### BEGIN SOLUTION
    rows = im2col(x, (kh, kw), stride, padding) @ _weight_matrix(weight)
    if bias is not None:
        rows += bias
    return rows.reshape(n, oh, ow, out_channels)
    ### END SOLUTION


# %%
def test_unit_conv_forward():
    rng = np.random.default_rng(0)
    for x_shape, w_shape, stride, padding in (
        ((2, 3, 7, 6), (4, 3, 3, 2), (1, 1), (0, 0)),
        ((1, 2, 9, 7), (3, 2, 3, 3), (2, 1), (1, 1)),
        ((2, 1, 6, 8), (2, 1, 2, 4), (2, 3), (2, 1)),
    ):
        x, weight, bias = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
        fast = conv2d_forward(_channels_last(x), weight, bias, stride, padding)
        assert np.allclose(_channels_first(fast), conv2d_loops(x, weight, bias, stride, padding), atol=1e-12)
    print("conv2d_forward: im2col + one matrix multiply equals the seven loops, for strides, paddings and rectangles")


# %% [markdown]
# ## The convolution's backward pass
#
# With `out = cols @ W + b` (one row per output pixel) the gradients are those of a Linear layer, with
# `dout` the output gradient as a (N*OH*OW, OC) matrix:
#
# - `dW = cols.T @ dout`: every window times the gradient of the pixel it produced, summed over all
#   pixels. That sum over positions is what weight sharing means for learning: one kernel, updated by
#   every place it was used. Recompute `cols` here rather than keeping it from the forward pass:
#   copying again costs less than storing 9 copies of the input. Then reshape `dW` back to the kernels'
#   shape: rows in (u, v, c) order mean (KH, KW, C, OC), transposed to (OC, C, KH, KW).
# - `db = ones @ dout`: the sum of the output gradient over all pixels. A matrix-vector product with a
#   vector of ones runs in BLAS, several times faster than `dout.sum(axis=0)`.
# - The input gradient: each input pixel was copied into KH*KW windows, so its gradient is the sum of
#   the gradients of those copies. For one kernel offset (u, v), the copies' gradients are one matrix
#   product, `dout @ weight[:, :, u, v]` (pixels, C), and they belong to the input positions
#   `[u :: S, v :: S]` (cut to the output's size) of the padded input. So: a zeroed padded gradient,
#   KH*KW strided additions `dx_padded[:, u : u + S*OH : S, v : v + S*OW : S] += block`, and the
#   padding cut off. Whole-array additions, never a Python loop over pixels and never `np.add.at`,
#   which is many times slower.
#
# A fact worth knowing: for stride 1 the input gradient is itself a convolution, of the zero-padded
# output gradient with the kernel flipped in space and its input and output channels swapped (the
# package tests check it). Computed that way it needs an im2col of the output gradient, with KH*KW
# copies of OC channels, where the additions above touch KH*KW copies of C channels.
#
# The test after it is a gradient check: the oracle of module 05 compares all three gradients with
# float64 finite differences, on a rectangular kernel with different input and output channels, so a
# transposed weight gradient cannot pass.

# %%
#| export nn.kernels
def conv2d_backward(grad: np.ndarray, x: np.ndarray, weight: np.ndarray, stride: tuple, padding: tuple,
                    need_input_grad: bool = True) -> tuple:
    """Gradients (dx, dweight, dbias) of conv2d_forward, given grad = dL/dout (N, OH, OW, OC).

    dx (N, H, W, C) is None when need_input_grad is False (a network's first layer needs none).
    """
    n, height, width, channels = x.shape
    out_channels, _, kh, kw = weight.shape
    (sh, sw), (ph, pw) = stride, padding
    oh, ow = grad.shape[1:3]
    dout = grad.reshape(-1, out_channels)  # one row per output pixel
    dx = None
    # Hint: dweight from im2col(x, ...).T @ dout, reshaped to (kh, kw, channels, out_channels) and
    # transposed to (out_channels, channels, kh, kw); dbias = np.ones(rows) @ dout. When need_input_grad:
    # a zeroed (n, height + 2*ph, width + 2*pw, channels) array; for each offset (u, v), add
    # (dout @ weight[:, :, u, v]) reshaped to (n, oh, ow, channels) into its [u : u + sh*oh : sh,
    # v : v + sw*ow : sw] window; dx is the part inside the padding.
    ### BEGIN SOLUTION
    cols = im2col(x, (kh, kw), stride, padding)
    dweight = (cols.T @ dout).reshape(kh, kw, channels, out_channels).transpose(3, 2, 0, 1)
    dbias = np.ones(dout.shape[0], dtype=dout.dtype) @ dout
    if need_input_grad:
        blocks = dout @ weight.transpose(2, 3, 0, 1).reshape(kh * kw, out_channels, channels)  # one per offset
        dx_padded = np.zeros((n, height + 2 * ph, width + 2 * pw, channels), dtype=x.dtype)
        for block, (u, v) in zip(blocks, _offsets((kh, kw))):
            dx_padded[:, u : u + sh * oh : sh, v : v + sw * ow : sw] += block.reshape(n, oh, ow, channels)
        dx = dx_padded[:, ph : ph + height, pw : pw + width]
    ### END SOLUTION
    return dx, np.ascontiguousarray(dweight), dbias


# %%
def _kernel_function(forward, backward):
    """A module 05 Function made of a forward kernel and its backward kernel, so gradcheck can test them."""

    class Kernel(Function):
        def forward(self, *arrays, **options):
            self.save_for_backward(arrays, options)
            return forward(*arrays, **options)

        def backward(self, grad):
            arrays, options = self.saved
            return backward(grad, *arrays, **options)

    return Kernel


def _leaf(array) -> Tensor:
    return Tensor(array, requires_grad=True, dtype=np.float64)


def test_unit_conv_backward():
    rng = np.random.default_rng(1)
    conv = _kernel_function(
        lambda x, w, b, stride, padding: conv2d_forward(x, w, b, stride, padding),
        lambda grad, x, w, b, stride, padding: conv2d_backward(grad, x, w, stride, padding),
    )
    for stride, padding in (((1, 1), (1, 1)), ((2, 1), (0, 2))):
        x, w, b = _leaf(rng.standard_normal((2, 5, 6, 2))), _leaf(rng.standard_normal((3, 2, 3, 2))), _leaf(rng.standard_normal(3))
        assert gradcheck(lambda x, w, b: conv.apply(x, w, b, stride=stride, padding=padding), [x, w, b])
    dx, _, _ = conv2d_backward(np.ones((1, 3, 3, 3)), np.ones((1, 3, 3, 2)), np.ones((3, 2, 1, 1)), (1, 1), (0, 0), False)
    assert dx is None, "no input gradient when none is needed"
    print("conv2d_backward: dx, dweight and dbias agree with float64 finite differences (3x2 kernel, 2 -> 3 channels)")


# %% [markdown]
# ## Pooling: smaller images, tolerance to small shifts
#
# A pooling layer summarises each window of each channel by one number: its maximum (`MaxPool2d`) or
# its mean (`AvgPool2d`). It has no weights. With a 2x2 window and stride 2 it halves the height and
# width, so the next convolution sees a wider part of the image for the same cost, and a feature that
# moves by one pixel inside a window leaves a max-pooled output unchanged.
#
# **Max or average?** Max pooling keeps the strongest response ("is there an edge anywhere here?") and
# passes the gradient to that one winner only; average pooling keeps the mean, blurs, and spreads the
# gradient evenly over the window. Classic CNNs use max pooling between convolutions and one global
# average pool at the end.
#
# **One offset at a time.** A window of K x K has K*K offsets (u, v); the values at offset (u, v) of
# *all* windows form one strided slice of the input, `_window_values(x, (u, v), stride, (OH, OW))`. So
# pooling is K*K whole-array operations: for 2x2 pooling, four. The forward pass of max pooling also
# remembers which offset won each window (`winner`, one byte per output), and the backward pass sends
# each gradient back to the winner's position. When several values of a window tie for the maximum,
# the first offset wins, as in PyTorch. Padding for max pooling is -inf (it never wins), for average
# pooling 0 (it counts in the mean, as in PyTorch's default). Where windows overlap (stride smaller
# than the kernel) a position receives gradient from several windows: add, do not overwrite.

# %%
#| export nn.kernels
def _pool_output_size(x_shape: tuple, kernel_size: tuple, stride: tuple, padding: tuple) -> tuple:
    """(OH, OW) of pooling x (N, H, W, C)."""
    return (conv_output_size(x_shape[1], kernel_size[0], stride[0], padding[0]),
            conv_output_size(x_shape[2], kernel_size[1], stride[1], padding[1]))


def maxpool2d_forward(x: np.ndarray, kernel_size: tuple, stride: tuple, padding: tuple) -> tuple:
    """(out, winner) for x (N, H, W, C): each window's maximum, and the index of the offset that held it."""
    out_size = _pool_output_size(x.shape, kernel_size, stride, padding)
    padded = _pad_channels_last(x, padding, -np.inf)
    # Hint: start from the values at the first offset (copy them) and a zero winner array of dtype
    # np.uint8. For each later offset (index, (u, v)): where its values are strictly greater than the best
    # so far, that offset wins. Offsets come in increasing order, so a window's winner is the largest
    # index that ever won: np.maximum(winner, (values > best) * np.uint8(index)) (several times faster
    # than np.where here). Then the best becomes np.maximum of the two.
    ### BEGIN SOLUTION
    offsets = _offsets(kernel_size)
    best = _window_values(padded, offsets[0], stride, out_size).copy()
    winner = np.zeros(best.shape, dtype=np.uint8)
    for index, offset in enumerate(offsets[1:], start=1):
        values = _window_values(padded, offset, stride, out_size)
        winner = np.maximum(winner, (values > best) * np.uint8(index))  # strictly greater: a tie keeps the first
        best = np.maximum(best, values)
    ### END SOLUTION
    return best, winner


def maxpool2d_backward(grad: np.ndarray, winner: np.ndarray, x_shape: tuple, kernel_size: tuple, stride: tuple,
                       padding: tuple) -> np.ndarray:
    """dx (x_shape, channels last): each output's gradient goes back to the position that won its window."""
    n, height, width, channels = x_shape
    (ph, pw), out_size = padding, grad.shape[1:3]
    # Hint: a zeroed padded gradient (n, height + 2*ph, width + 2*pw, channels); for each offset
    # (index, (u, v)), add grad * (winner == index) into that offset's window (_window_values gives a view
    # you can add into); return the part inside the padding.
    ### BEGIN SOLUTION
    dx = np.zeros((n, height + 2 * ph, width + 2 * pw, channels), dtype=grad.dtype)
    for index, offset in enumerate(_offsets(kernel_size)):
        _window_values(dx, offset, stride, out_size)[...] += grad * (winner == index)
    ### END SOLUTION
    return dx[:, ph : ph + height, pw : pw + width]


def avgpool2d_forward(x: np.ndarray, kernel_size: tuple, stride: tuple, padding: tuple) -> np.ndarray:
    """The mean of every window of x (N, H, W, C); padding zeros count in the mean."""
    out_size = _pool_output_size(x.shape, kernel_size, stride, padding)
    padded = _pad_channels_last(x, padding, 0.0)
    count = kernel_size[0] * kernel_size[1]
    # Hint: the sum of the values at every offset, divided by count.
    ### BEGIN SOLUTION
    total = _window_values(padded, (0, 0), stride, out_size).copy()
    for offset in _offsets(kernel_size)[1:]:
        total += _window_values(padded, offset, stride, out_size)
    return total / x.dtype.type(count)
    ### END SOLUTION


def avgpool2d_backward(grad: np.ndarray, x_shape: tuple, kernel_size: tuple, stride: tuple, padding: tuple) -> np.ndarray:
    """dx (x_shape, channels last): every position of a window receives an equal share of its gradient."""
    n, height, width, channels = x_shape
    (ph, pw), out_size = padding, grad.shape[1:3]
    count = kernel_size[0] * kernel_size[1]
    # Hint: a zeroed padded gradient; add grad / count into every offset's window; cut off the padding.
    ### BEGIN SOLUTION
    dx = np.zeros((n, height + 2 * ph, width + 2 * pw, channels), dtype=grad.dtype)
    share = grad / grad.dtype.type(count)
    for offset in _offsets(kernel_size):
        _window_values(dx, offset, stride, out_size)[...] += share
    ### END SOLUTION
    return dx[:, ph : ph + height, pw : pw + width]


# %%
def test_unit_pooling():
    x = np.array([[1, 2, 5, 0], [3, 4, 1, 1], [0, 0, 7, 7], [0, 1, 7, 7]], dtype=np.float64).reshape(1, 4, 4, 1)
    best, winner = maxpool2d_forward(x, (2, 2), (2, 2), (0, 0))
    assert best[0, :, :, 0].tolist() == [[4, 5], [1, 7]] and winner[0, :, :, 0].tolist() == [[3, 0], [3, 0]]
    assert avgpool2d_forward(x, (2, 2), (2, 2), (0, 0))[0, :, :, 0].tolist() == [[2.5, 1.75], [0.25, 7.0]]
    dx = maxpool2d_backward(np.ones((1, 2, 2, 1)), winner, x.shape, (2, 2), (2, 2), (0, 0))
    assert dx[0, 2:, 2:, 0].tolist() == [[1, 0], [0, 0]], "a tie sends the gradient to the first maximum"
    rng = np.random.default_rng(2)
    values = rng.permutation(2 * 7 * 6 * 3).reshape(2, 7, 6, 3) * 0.1  # no ties: finite differences stay inside
    for kernel, stride, padding in (((2, 2), (2, 2), (0, 0)), ((3, 2), (2, 1), (1, 1))):
        pool = _kernel_function(
            lambda x, **o: maxpool2d_forward(x, **o)[0],
            lambda grad, x, **o: (maxpool2d_backward(grad, maxpool2d_forward(x, **o)[1], x.shape, **o),),
        )
        assert gradcheck(lambda x: pool.apply(x, kernel_size=kernel, stride=stride, padding=padding), [_leaf(values)])
        average = _kernel_function(avgpool2d_forward, lambda grad, x, **o: (avgpool2d_backward(grad, x.shape, **o),))
        assert gradcheck(lambda x: average.apply(x, kernel_size=kernel, stride=stride, padding=padding), [_leaf(values)])
        loops = maxpool2d_loops(_channels_first(values), kernel, stride, padding)
        assert np.array_equal(_channels_first(maxpool2d_forward(values, kernel, stride, padding)[0]), loops)
    print("pooling: maxima, winners and means of 2x2 windows; backward passes agree with finite differences, overlaps too")


# %% [markdown]
# ## BatchNorm2d: a steady scale for every channel
#
# As a network trains, every layer's weights change, so the distribution of the numbers each layer
# receives keeps shifting; in a deep stack, scales compound, and the learning rate that suits one layer
# is too large or too small for another. Batch normalisation (Ioffe and Szegedy, 2015) fixes the scale
# by construction: for each channel it subtracts the batch mean and divides by the batch standard
# deviation (over the N, H and W positions), then applies a learned scale `gamma` and shift `beta`:
#
#     xhat = (x - mean) / sqrt(var + eps),   y = gamma * xhat + beta
#
# In practice this lets CNNs train with much larger learning rates and reach a given accuracy in a
# fraction of the epochs.
#
# **Rows and channels.** A channels-last (N, H, W, C) array reshaped to (N*H*W, C) has one row per
# position and one column per channel, so per-channel statistics are column statistics. The kernels
# below take such (M, C) `rows`.
#
# **The backward pass.** Write `inv_std = 1 / sqrt(var + eps)` and M for the number of rows. The
# parameter gradients are sums over every position: `dbeta = sum(dy)` and `dgamma = sum(dy * xhat)`.
# The input gradient, after the chain rule through the mean and the variance (both depend on every x),
# needs those sums:
#
#     dx = gamma * inv_std * (dy - dbeta / M - xhat * dgamma / M)
#
# That is why it comes in two kernels: the sums first (over the whole batch), then dx.
#
# **Touch each number few times.** Batch norm does almost no arithmetic per number, so its speed is
# the number of passes over memory. Everything per channel is a constant, so collect the constants
# first and make each pass count. With `a` for gamma times inv_std, the formula above is
#
#     dx = dy * a + x * b + c,   b = -a * inv_std * dgamma / M,   c = -a * dbeta / M - mean * b
#
# three passes instead of six, with no `xhat` array at all. The same trick gives the sum without xhat:
# `sum(dy * xhat) = (sum(dy * x) - mean * sum(dy)) * inv_std`.

# %%
#| export nn.kernels
def batch_statistics(rows: np.ndarray) -> tuple:
    """(mean, var) of every column of rows (M, C): per-channel statistics, the variance biased (divided by M)."""
    count = rows.shape[0]
    # Hint: the mean is the column sums divided by count; the variance is the mean of the squared
    # deviations from it. Column sums run fastest as np.ones(count) @ rows (a matrix-vector product).
    ### BEGIN SOLUTION
    ones = np.ones(count, dtype=rows.dtype)
    mean = ones @ rows / count
    centred = rows - mean
    var = ones @ (centred * centred) / count
    ### END SOLUTION
    return mean, var


def batchnorm_param_grads(dy: np.ndarray, rows: np.ndarray, mean: np.ndarray, inv_std: np.ndarray) -> tuple:
    """(dgamma, dbeta): the sums of dy * xhat and of dy over the rows (M, C)."""
    # Hint: both sums are over the rows (a vector of ones again); sum(dy * xhat) without an xhat array
    # is (sum(dy * rows) - mean * sum(dy)) * inv_std.
    ### BEGIN SOLUTION
    ones = np.ones(dy.shape[0], dtype=dy.dtype)
    dbeta = ones @ dy
    dgamma = (ones @ (dy * rows) - mean * dbeta) * inv_std
    return dgamma, dbeta
    ### END SOLUTION


def batchnorm_input_grad(dy, rows, gamma, mean, inv_std, dgamma, dbeta, count: int) -> np.ndarray:
    """dx for rows (M, C) in training mode; dgamma, dbeta and count (M) are over the whole batch."""
    # Hint: the per-channel constants a, b and c first (vectors of C numbers), then dy * a + rows * b + c.
    ### BEGIN SOLUTION
    a = gamma * inv_std
    b = -a * inv_std * dgamma / count
    c = -a * dbeta / count - mean * b
    return dy * a + rows * b + c
    ### END SOLUTION


# %%
def test_unit_batchnorm_kernels():
    rng = np.random.default_rng(3)
    rows = rng.standard_normal((12, 3)) * [1.0, 5.0, 0.1] + [0.0, 2.0, -3.0]
    mean, var = batch_statistics(rows)
    assert np.allclose(mean, rows.mean(axis=0)) and np.allclose(var, rows.var(axis=0))
    eps, gamma, beta = 1e-5, rng.uniform(0.5, 2.0, 3), rng.standard_normal(3)

    def forward(rows, gamma, beta):
        mean, var = batch_statistics(rows)
        return (rows - mean) / np.sqrt(var + eps) * gamma + beta

    def backward(dy, rows, gamma, beta):
        mean, var = batch_statistics(rows)
        inv_std = 1.0 / np.sqrt(var + eps)
        dgamma, dbeta = batchnorm_param_grads(dy, rows, mean, inv_std)
        return batchnorm_input_grad(dy, rows, gamma, mean, inv_std, dgamma, dbeta, rows.shape[0]), dgamma, dbeta

    norm = _kernel_function(forward, backward)
    assert gradcheck(lambda x, g, b: norm.apply(x, g, b), [_leaf(rows), _leaf(gamma), _leaf(beta)])
    print("batch norm: column means and variances; dx, dgamma and dbeta agree with float64 finite differences")


# %% [markdown]
# ## Making it fast (given: read it, do not write it)
#
# Your kernels compute the right numbers for a whole batch at once. A training step calls them on a
# batch of 256 photos, and two facts of the machine decide how fast that runs.
#
# **Caches.** A processor reads its caches ten times faster than main memory, but they are small: a
# few MiB. The 36 MiB `cols` matrix of a whole batch does not fit, so "im2col, then multiply" on the
# whole batch writes it all to main memory and reads it all back. The engine below instead hands your
# kernels a few images at a time, a *slice* of the batch whose `cols` is about `CHUNK_BYTES` (2 MiB),
# and copies each slice's result into the layer's output. The product is the same; the matrix never
# leaves the cache.
#
# **Cores.** Slices are independent, so several run at the same time, one per core. NumPy releases
# Python's global interpreter lock inside its copies, ufuncs and matrix multiplies, so plain Python
# threads really do run in parallel. The matrix library (BLAS) has threads of its own, and two sets of
# threads on the same cores fight (OpenBLAS's idle threads keep spinning after each multiply). So while
# a layer runs, BLAS runs single-threaded, and it gets its own thread count back when the layer
# returns: nothing outside a layer call is changed. `set_num_threads(n)` (or the environment variable
# `TINYTORCH_NUM_THREADS`) sets how many threads the layers use; by default one per core this process
# may use, at most 8. BLAS threads are managed through `threadpoolctl`, the library made for exactly
# this, so it works for OpenBLAS, MKL and BLIS alike.
#
# **Sums across slices.** The weight gradient is a sum over all pixels, so each slice returns its part
# and the engine adds them up. Batch statistics combine too: each slice's mean and variance, weighted
# by its size, give the batch's (Chan's formula: the variance of the whole is the mean of the slices'
# variances plus the variance of their means). Batch norm's input gradient needs the sums over the
# whole batch, which is why its backward pass is two of your kernels: the sums on every slice first,
# then dx on every slice.
#
# Every number the layers compute comes from your kernels; the engine only decides which images go
# where, and when.

# %%
#| export nn.engine
#| doc The fast engine: runs the spatial kernels over cache-sized chunks of the batch, on threads
CHUNK_BYTES = 2 * 2**20  # one slice's im2col matrix: about a core's share of the cache


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _threads_from_environment() -> int:
    value = os.environ.get("TINYTORCH_NUM_THREADS")
    if value is None:
        return min(_available_cores(), 8)
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"TINYTORCH_NUM_THREADS must be a positive whole number, got {value!r}.")
    return int(value)


class _Blas:
    """BLAS's threads, through threadpoolctl: single-threaded inside a layer call, as they were after it."""

    def __init__(self):
        self._controller = None

    def single_threaded(self):
        if self._controller is None:  # found on first use: importing tinytorch changes nothing
            from threadpoolctl import ThreadpoolController

            self._controller = ThreadpoolController().select(user_api="blas")
        return self._controller.limit(limits=1)


class _Workers:
    """Run a function over slices of a batch on `threads` threads (the calling thread takes a share)."""

    def __init__(self, threads: int):
        self.threads = threads
        self.blas = _Blas()
        self._pool, self._pool_key = None, None
        self._depth = threading.local()

    def map(self, work, total: int, per_slice: int) -> list:
        """[work(start, stop) for each slice of range(total)], in slice order, spread over the threads.

        Each thread takes the next slice nobody has taken yet, so a thread the operating system pauses
        (another program on the core) holds back only its own slice, not a fixed share of the batch.
        Results go back in slice order, so sums over slices add up in the same order every time.
        """
        per_slice = max(1, min(per_slice, -(-total // self.threads)))  # a small batch still gives every thread a slice
        spans = [(start, min(start + per_slice, total)) for start in range(0, total, per_slice)]
        with self._blas_single_threaded():
            if self.threads == 1 or len(spans) == 1:
                return [work(start, stop) for start, stop in spans]
            results = [None] * len(spans)
            tickets, lock = iter(range(len(spans))), threading.Lock()

            def run():
                while True:
                    with lock:
                        index = next(tickets, None)
                    if index is None:
                        return
                    results[index] = work(*spans[index])

            helpers = [self._executor().submit(run) for _ in range(min(self.threads, len(spans)) - 1)]
            try:
                run()  # this thread works too
            finally:
                wait(helpers)  # never return while a helper still writes into the arrays
            for helper in helpers:
                helper.result()  # a helper's error reaches the caller
            return results

    @contextlib.contextmanager
    def _blas_single_threaded(self):
        depth = getattr(self._depth, "value", 0)  # only the outermost call changes BLAS
        self._depth.value = depth + 1
        try:
            if depth:
                yield
            else:
                with self.blas.single_threaded():
                    yield
        finally:
            self._depth.value = depth

    def _executor(self) -> ThreadPoolExecutor:
        key = (self.threads, os.getpid())  # a forked child must not wait for its parent's threads
        if self._pool_key != key:
            self._pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="tinytorch")
            self._pool_key = key
        return self._pool


_WORKERS = _Workers(_threads_from_environment())


def set_num_threads(threads: int) -> None:
    """How many threads the spatial layers use (BLAS stays single-threaded inside a layer call)."""
    if int(threads) < 1:
        raise ValueError(f"set_num_threads needs at least 1 thread, got {threads}.")
    _WORKERS.threads = int(threads)


def get_num_threads() -> int:
    return _WORKERS.threads


def _per_slice(bytes_per_item: int) -> int:
    """How many items (images, rows) make a slice of about CHUNK_BYTES; at least one."""
    return max(1, CHUNK_BYTES // max(1, bytes_per_item))


def fast_conv2d_forward(x: np.ndarray, weight: np.ndarray, bias, stride: tuple, padding: tuple) -> np.ndarray:
    """conv2d_forward over slices of x (N, H, W, C), on every thread: (N, OH, OW, OC)."""
    n, height, width, channels = x.shape
    out_channels, _, kh, kw = weight.shape
    oh, ow = conv_output_size(height, kh, stride[0], padding[0]), conv_output_size(width, kw, stride[1], padding[1])
    out = np.empty((n, oh, ow, out_channels), dtype=x.dtype)

    def forward_slice(start, stop):
        out[start:stop] = conv2d_forward(x[start:stop], weight, bias, stride, padding)

    _WORKERS.map(forward_slice, n, _per_slice(oh * ow * kh * kw * channels * x.itemsize))
    return out


def fast_conv2d_backward(grad, x, weight, stride, padding, need_input_grad: bool = True) -> tuple:
    """conv2d_backward over slices; the slices' weight and bias gradients are added up."""
    n, height, width, channels = x.shape
    out_channels, _, kh, kw = weight.shape
    oh, ow = grad.shape[1:3]
    dx = np.empty(x.shape, dtype=x.dtype) if need_input_grad else None

    def backward_slice(start, stop):
        dx_slice, dweight, dbias = conv2d_backward(grad[start:stop], x[start:stop], weight, stride, padding, need_input_grad)
        if need_input_grad:
            dx[start:stop] = dx_slice
        return dweight, dbias

    parts = _WORKERS.map(backward_slice, n, _per_slice(oh * ow * kh * kw * channels * x.itemsize))
    return dx, sum(part[0] for part in parts), sum(part[1] for part in parts)


def fast_maxpool2d_forward(x: np.ndarray, kernel_size: tuple, stride: tuple, padding: tuple) -> tuple:
    """maxpool2d_forward over slices of x (N, H, W, C): (out, winner)."""
    n, _, _, channels = x.shape
    oh, ow = _pool_output_size(x.shape, kernel_size, stride, padding)
    out = np.empty((n, oh, ow, channels), dtype=x.dtype)
    winner = np.empty((n, oh, ow, channels), dtype=np.uint8)

    def forward_slice(start, stop):
        out[start:stop], winner[start:stop] = maxpool2d_forward(x[start:stop], kernel_size, stride, padding)

    _WORKERS.map(forward_slice, n, _per_slice(oh * ow * channels * x.itemsize * 4))
    return out, winner


def fast_maxpool2d_backward(grad, winner, x_shape, kernel_size, stride, padding) -> np.ndarray:
    n, height, width, channels = x_shape
    dx = np.empty(x_shape, dtype=grad.dtype)

    def backward_slice(start, stop):
        shape = (stop - start, height, width, channels)
        dx[start:stop] = maxpool2d_backward(grad[start:stop], winner[start:stop], shape, kernel_size, stride, padding)

    _WORKERS.map(backward_slice, n, _per_slice(height * width * channels * grad.itemsize))
    return dx


def fast_avgpool2d_forward(x: np.ndarray, kernel_size: tuple, stride: tuple, padding: tuple) -> np.ndarray:
    n, _, _, channels = x.shape
    oh, ow = _pool_output_size(x.shape, kernel_size, stride, padding)
    out = np.empty((n, oh, ow, channels), dtype=x.dtype)

    def forward_slice(start, stop):
        out[start:stop] = avgpool2d_forward(x[start:stop], kernel_size, stride, padding)

    _WORKERS.map(forward_slice, n, _per_slice(oh * ow * channels * x.itemsize * 4))
    return out


def fast_avgpool2d_backward(grad, x_shape, kernel_size, stride, padding) -> np.ndarray:
    n, height, width, channels = x_shape
    dx = np.empty(x_shape, dtype=grad.dtype)

    def backward_slice(start, stop):
        shape = (stop - start, height, width, channels)
        dx[start:stop] = avgpool2d_backward(grad[start:stop], shape, kernel_size, stride, padding)

    _WORKERS.map(backward_slice, n, _per_slice(height * width * channels * grad.itemsize))
    return dx


def _row_slices(rows: np.ndarray) -> int:
    """Rows per slice for batch norm's (M, C) matrices."""
    return _per_slice(rows.shape[1] * rows.itemsize * 4)


def fast_batch_statistics(rows: np.ndarray) -> tuple:
    """batch_statistics over slices of rows, combined: the whole batch's mean and (biased) variance."""
    parts = _WORKERS.map(lambda start, stop: (stop - start, *batch_statistics(rows[start:stop])),
                         rows.shape[0], _row_slices(rows))
    total = rows.shape[0]
    mean = sum(count * part_mean for count, part_mean, _ in parts) / total
    var = sum(count * (part_var + (part_mean - mean) ** 2) for count, part_mean, part_var in parts) / total
    return mean, var


def fast_batchnorm_forward(rows: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """rows * scale + shift over slices (scale = gamma / std, shift = beta - mean * scale)."""
    out = np.empty_like(rows)

    def forward_slice(start, stop):
        np.multiply(rows[start:stop], scale, out=out[start:stop])
        out[start:stop] += shift

    _WORKERS.map(forward_slice, rows.shape[0], _row_slices(rows))
    return out


def fast_batchnorm_backward(dy, rows, gamma, mean, inv_std, training: bool) -> tuple:
    """(dx, dgamma, dbeta): the sums over every slice first, then dx slice by slice."""
    parts = _WORKERS.map(lambda start, stop: batchnorm_param_grads(dy[start:stop], rows[start:stop], mean, inv_std),
                         rows.shape[0], _row_slices(rows))
    dgamma, dbeta = sum(part[0] for part in parts), sum(part[1] for part in parts)
    dx = np.empty_like(dy)

    def input_slice(start, stop):
        if training:
            dx[start:stop] = batchnorm_input_grad(dy[start:stop], rows[start:stop], gamma, mean, inv_std,
                                                  dgamma, dbeta, rows.shape[0])
        else:  # the statistics are constants: only the scale remains
            np.multiply(dy[start:stop], gamma * inv_std, out=dx[start:stop])

    _WORKERS.map(input_slice, rows.shape[0], _row_slices(rows))
    return dx, dgamma, dbeta


# %% [markdown]
# The engine must compute exactly what your kernels compute, however the batch is sliced and however
# many threads run: the test compares both on slices of one image each.

# %%
def test_unit_engine_matches_the_kernels():
    global CHUNK_BYTES
    rng = np.random.default_rng(4)
    x, weight, grad = rng.standard_normal((5, 6, 6, 2)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal((5, 6, 6, 3))
    rows, dy = rng.standard_normal((40, 3)), rng.standard_normal((40, 3))
    saved, threads = CHUNK_BYTES, get_num_threads()
    try:
        CHUNK_BYTES = 1  # every image its own slice
        set_num_threads(2)
        assert np.allclose(fast_conv2d_forward(x, weight, None, (1, 1), (1, 1)), conv2d_forward(x, weight, None, (1, 1), (1, 1)))
        for fast, plain in zip(fast_conv2d_backward(grad, x, weight, (1, 1), (1, 1)), conv2d_backward(grad, x, weight, (1, 1), (1, 1))):
            assert np.allclose(fast, plain)
        for fast, plain in zip(fast_batch_statistics(rows), batch_statistics(rows)):
            assert np.allclose(fast, plain)
        gamma, (mean, var) = np.array([1.0, 2.0, 0.5]), batch_statistics(rows)
        inv_std = 1 / np.sqrt(var + 1e-5)
        dgamma, dbeta = batchnorm_param_grads(dy, rows, mean, inv_std)
        plain = (batchnorm_input_grad(dy, rows, gamma, mean, inv_std, dgamma, dbeta, len(rows)), dgamma, dbeta)
        for fast, expected in zip(fast_batchnorm_backward(dy, rows, gamma, mean, inv_std, True), plain):
            assert np.allclose(fast, expected)
        assert np.array_equal(fast_maxpool2d_forward(x, (2, 2), (2, 2), (0, 0))[0], maxpool2d_forward(x, (2, 2), (2, 2), (0, 0))[0])
    finally:
        CHUNK_BYTES = saved
        set_num_threads(threads)
    print("engine: slices on two threads give the numbers your kernels give on the whole batch")


# %% [markdown]
# ## The layers
#
# Each layer owns its weights, checks its input, and calls a module 05 `Function` whose forward and
# backward passes hand the engine channels-last views of the arrays. Outputs keep channels-last memory
# under PyTorch's (N, C, H, W) shape (a transposed view, free), so the next convolution, batch norm or
# pooling layer reads them in channels-last order again at no cost, and any other operation sees an
# ordinary (N, C, H, W) array: NumPy follows the strides. Input in the usual (N, C, H, W) memory (a batch
# of photos) is copied into channels-last memory once per layer call, not once per slice and again in
# the backward pass.
#
# `Conv2d`'s initial weights follow He et al. (2015): uniform in +-sqrt(6 / fan_in) with
# fan_in = C*KH*KW, which keeps the variance of the activations steady from layer to layer when each
# convolution is followed by a ReLU. The bias starts at zero.
#
# **Weight sharing.** `Conv2d(3, 32, 3)` has 32 x (3 x 3 x 3) + 32 = 896 parameters whatever the image
# size, because the same 32 kernels are used at every position. A Linear layer producing the same
# output from a 32x32 RGB image would need 100 million.

# %%
#| export nn.conv
#| doc Conv2d, the 2-D convolution layer, and its Function over the fast engine
class Conv2dFunction(Function):
    """The differentiable convolution: inputs (x, weight) or (x, weight, bias), x (N, C, H, W)."""

    def forward(self, x, weight, bias=None, stride=(1, 1), padding=(0, 0)):
        x_cl = np.ascontiguousarray(_channels_last(x))  # free for a conv's own output; one copy for photos
        self.save_for_backward(x_cl, weight, stride, padding, bias is not None)
        return _channels_first(fast_conv2d_forward(x_cl, weight, bias, stride, padding))

    def backward(self, grad):
        x_cl, weight, stride, padding, has_bias = self.saved
        need_input_grad = self.needs_input_grad[0]  # the first layer's input (images) needs none
        dx, dweight, dbias = fast_conv2d_backward(_channels_last(grad), x_cl, weight, stride, padding, need_input_grad)
        dx = None if dx is None else _channels_first(dx)
        return (dx, dweight, dbias) if has_bias else (dx, dweight)


class Conv2d(Module):
    """2-D convolution over (N, C, H, W) input, PyTorch's Conv2d: weight (OC, C, KH, KW), bias (OC,).

    >>> conv = Conv2d(3, 8, kernel_size=3, padding=1)
    >>> conv(Tensor(np.zeros((2, 3, 16, 16), dtype=np.float32))).shape
    (2, 8, 16, 16)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, bias: bool = True):
        super().__init__()
        if int(in_channels) < 1 or int(out_channels) < 1:
            raise ValueError(
                f"Conv2d needs positive channel counts, got in_channels={in_channels}, out_channels={out_channels}."
            )
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(
                f"Conv2d needs kernel_size >= 1, stride >= 1 and padding >= 0, got kernel_size={kernel_size}, "
                f"stride={stride}, padding={padding}."
            )
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        shape = (self.out_channels, self.in_channels) + self.kernel_size
        self.weight = Parameter(kaiming_uniform(shape, fan_in=fan_in, a=0.0))  # He initialisation
        self.bias = Parameter(np.zeros(self.out_channels)) if bias else None

    def forward(self, x):
        x = as_tensor(x)
        expected = f"(N, {self.in_channels}, H, W)"
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"Conv2d(in_channels={self.in_channels}) expects input of shape {expected}, got {x.shape}: "
                + ("add a batch dimension (x.reshape(1, *x.shape))." if x.ndim == 3 else
                   "check the previous layer's out_channels.")
            )
        if x.dtype != self.weight.dtype:
            raise TypeError(
                f"Conv2d's weights are {self.weight.dtype} but the input is {x.dtype}: convert the input "
                f"(Tensor(x, dtype=np.{self.weight.dtype})) or the model (.float() / .double())."
            )
        conv_output_size(x.shape[2], self.kernel_size[0], self.stride[0], self.padding[0])
        conv_output_size(x.shape[3], self.kernel_size[1], self.stride[1], self.padding[1])
        inputs = (x, self.weight) if self.bias is None else (x, self.weight, self.bias)
        return Conv2dFunction.apply(*inputs, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, bias={self.bias is not None}"
        )


# %%
#| export nn.pool
#| doc MaxPool2d and AvgPool2d, and their Functions over the fast engine
class MaxPool2dFunction(Function):
    def forward(self, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)):
        out, winner = fast_maxpool2d_forward(_channels_last(x), kernel_size, stride, padding)
        self.save_for_backward(winner, _channels_last(x).shape, kernel_size, stride, padding)
        return _channels_first(out)

    def backward(self, grad):
        winner, x_shape, kernel_size, stride, padding = self.saved
        return (_channels_first(fast_maxpool2d_backward(_channels_last(grad), winner, x_shape, kernel_size, stride, padding)),)


class AvgPool2dFunction(Function):
    def forward(self, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)):
        self.save_for_backward(_channels_last(x).shape, kernel_size, stride, padding)
        return _channels_first(fast_avgpool2d_forward(_channels_last(x), kernel_size, stride, padding))

    def backward(self, grad):
        x_shape, kernel_size, stride, padding = self.saved
        return (_channels_first(fast_avgpool2d_backward(_channels_last(grad), x_shape, kernel_size, stride, padding)),)


class _Pool2d(Module):
    """What MaxPool2d and AvgPool2d share: sizes, checks and the call to their Function."""

    function = None

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride if stride is not None else kernel_size, "stride")
        self.padding = _pair(padding, "padding")
        if min(self.kernel_size) < 1 or min(self.stride) < 1:
            raise ValueError(f"{type(self).__name__} needs kernel_size >= 1 and stride >= 1.")
        if not all(0 <= p <= k // 2 for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(
                f"{type(self).__name__} padding must be between 0 and half the kernel size, got padding="
                f"{padding} for kernel_size={kernel_size}."
            )

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__} expects input of shape (N, C, H, W), got {x.shape}.")
        _pool_output_size(_channels_last(x.data).shape, self.kernel_size, self.stride, self.padding)  # raises if it does not fit
        return self.function.apply(x, kernel_size=self.kernel_size, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The maximum of each window: (N, C, H, W) -> (N, C, OH, OW). stride defaults to kernel_size."""

    function = MaxPool2dFunction


class AvgPool2d(_Pool2d):
    """The mean of each window (padding zeros included): (N, C, H, W) -> (N, C, OH, OW)."""

    function = AvgPool2dFunction


# %% [markdown]
# `BatchNorm2d` keeps, while training, an exponential running average of the batch statistics
# (`running_mean`, `running_var`, buffers saved in the state_dict, updated as
# `running = (1 - momentum) * running + momentum * batch`, with the unbiased variance, as in PyTorch).
# In evaluation the running statistics are used instead, so a prediction for one image does not depend
# on which other images share its batch; the statistics are then constants, and the backward pass is
# just `dy * gamma * inv_std`. The forward pass is one multiply-add per value:
# `y = x * scale + shift` with `scale = gamma * inv_std` and `shift = beta - mean * scale`.

# %%
#| export nn.norm
#| doc BatchNorm2d, batch normalisation of each channel, and its Function
def _rows(x: np.ndarray) -> np.ndarray:
    """x (N, C, H, W) as an (N*H*W, C) matrix: free for channels-last memory, one copy otherwise."""
    x_cl = _channels_last(x)
    if not x_cl.flags.c_contiguous:
        x_cl = np.ascontiguousarray(x_cl)
    return x_cl.reshape(-1, x.shape[1])


class BatchNorm2dFunction(Function):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta with per-channel statistics given by the layer.

    training=True: mean and var are this batch's statistics, and the gradient flows through them.
    training=False: they are constants (the running statistics).
    """

    def forward(self, x, gamma, beta, mean=None, var=None, eps=1e-5, training=True):
        inv_std = 1.0 / np.sqrt(var + eps)
        scale = gamma * inv_std
        rows = _rows(x)
        out = fast_batchnorm_forward(rows, scale, beta - mean * scale)
        self.save_for_backward(rows, x.shape, gamma, mean, inv_std, training)
        n, channels, height, width = x.shape
        return _channels_first(out.reshape(n, height, width, channels))

    def backward(self, grad):
        rows, x_shape, gamma, mean, inv_std, training = self.saved
        dx, dgamma, dbeta = fast_batchnorm_backward(_rows(grad), rows, gamma, mean, inv_std, training)
        n, channels, height, width = x_shape
        return _channels_first(dx.reshape(n, height, width, channels)), dgamma, dbeta


class BatchNorm2d(Module):
    """Batch normalisation over (N, C, H, W): per-channel statistics, learned gamma (weight) and beta (bias)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        if int(num_features) < 1:
            raise ValueError(f"BatchNorm2d needs num_features >= 1, got {num_features}.")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm2d momentum must be between 0 and 1, got {momentum}.")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), float(momentum)
        self.weight = Parameter(np.ones(self.num_features))  # gamma
        self.bias = Parameter(np.zeros(self.num_features))  # beta
        self.register_buffer("running_mean", np.zeros(self.num_features, dtype=np.float32))
        self.register_buffer("running_var", np.ones(self.num_features, dtype=np.float32))
        self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))  # as PyTorch's, in state_dict

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm2d({self.num_features}) expects input of shape (N, {self.num_features}, H, W), "
                f"got {x.shape}."
            )
        dtype = self.weight.dtype
        if self.training:
            count = x.size // self.num_features
            if count < 2:
                raise ValueError(
                    f"BatchNorm2d in training mode needs more than one value per channel, got input {x.shape}: "
                    "use a larger batch, or call model.eval()."
                )
            mean, var = fast_batch_statistics(_rows(x.data))
            keep = 1.0 - self.momentum
            unbiased = var * (count / (count - 1))
            self.running_mean.data[...] = keep * self.running_mean.data + self.momentum * mean
            self.running_var.data[...] = keep * self.running_var.data + self.momentum * unbiased
            self.num_batches_tracked.data[...] += 1
        else:
            mean, var = self.running_mean.data.astype(dtype), self.running_var.data.astype(dtype)
        return BatchNorm2dFunction.apply(
            x, self.weight, self.bias, mean=mean, var=var, eps=dtype.type(self.eps), training=self.training
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


# %% [markdown]
# ## Flatten, and a whole network
#
# `Flatten` turns (N, C, H, W) feature maps into (N, C*H*W) rows for a Linear classifier. It must be
# built from a Tensor operation (`reshape`), not by re-wrapping `x.data` in a new Tensor: that would
# cut the graph, and every layer before it would silently never learn. (One course's CNN milestone
# reached its target accuracy with its convolution never trained, for exactly this reason.)
#
# `SimpleCNN` is the classic small CNN for 32x32 colour images:
#
#     (N, 3, 32, 32) -conv 3->32, 3x3, pad 1-> (N, 32, 32, 32) -ReLU-> -maxpool 2-> (N, 32, 16, 16)
#                    -conv 32->64, 3x3, pad 1-> (N, 64, 16, 16) -ReLU-> -maxpool 2-> (N, 64, 8, 8)
#                    -flatten-> (N, 4096) -Linear-> (N, 10)

# %%
#| export nn.flatten
#| doc Flatten: (N, C, H, W) feature maps to (N, C*H*W) rows
class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...), keeping the graph (it is a Tensor reshape)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x):
        return as_tensor(x).flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


# %%
#| export models.cnn
#| doc SimpleCNN: two convolution-ReLU-pool blocks and a Linear classifier
class SimpleCNN(Module):
    """conv(3->32, 3x3, pad 1) ReLU maxpool(2), conv(32->64, 3x3, pad 1) ReLU maxpool(2), flatten, Linear(4096, 10).

    Built for 32x32 images (CIFAR-10); `in_channels` and `num_classes` may change.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.conv1 = Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.pool1 = MaxPool2d(2)
        self.conv2 = Conv2d(32, 64, kernel_size=3, padding=1)
        self.pool2 = MaxPool2d(2)
        self.flatten = Flatten()
        self.fc = Linear(64 * 8 * 8, num_classes)

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim != 4 or x.shape[2:] != (32, 32):
            raise ValueError(f"SimpleCNN expects images of shape (N, {self.conv1.in_channels}, 32, 32), got {x.shape}.")
        x = self.pool1(relu(self.conv1(x)))
        x = self.pool2(relu(self.conv2(x)))
        return self.fc(self.flatten(x))

    def feature_maps(self, x) -> list:
        """The activations after each conv block (ReLU, pool), for looking at what the network sees."""
        x = as_tensor(x)
        first = self.pool1(relu(self.conv1(x)))
        return [first, self.pool2(relu(self.conv2(first)))]


# %%
def test_unit_layers():
    rng = np.random.default_rng(5)
    conv = Conv2d(3, 8, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2))
    assert conv(Tensor(np.zeros((2, 3, 9, 7)), dtype=np.float32)).shape == (2, 8, 5, 7)
    conv = Conv2d(2, 3, kernel_size=3, padding=1).double()
    x = Tensor(rng.standard_normal((2, 2, 5, 4)), requires_grad=True, dtype=np.float64)
    assert np.allclose(conv(x).data, conv2d_loops(x.data, conv.weight.data, conv.bias.data, padding=1))
    assert gradcheck(lambda x, w, b: conv(x), [x, conv.weight, conv.bias])
    pooled = MaxPool2d(2)(x)
    assert np.array_equal(pooled.data, maxpool2d_loops(x.data, 2)) and pooled.shape == (2, 2, 2, 2)
    assert np.allclose(AvgPool2d(2)(x).data, x.data[:, :, :4, :4].reshape(2, 2, 2, 2, 2, 2).mean(axis=(3, 5)))
    print("layers: Conv2d sizes and values match the loops and pass gradcheck; pooling matches its definitions")


def test_unit_weight_sharing():
    conv = Conv2d(1, 1, kernel_size=3, padding=1, bias=False)
    image = np.zeros((1, 1, 9, 9), dtype=np.float32)
    image[0, 0, 3, 3] = 1.0
    response = conv(Tensor(image)).data[0, 0]
    shifted = conv(Tensor(np.roll(image, (2, 1), axis=(2, 3)))).data[0, 0]
    assert np.allclose(np.roll(response, (2, 1), axis=(0, 1)), shifted), "same kernel at every position"
    assert np.allclose(response[2:5, 2:5], conv.weight.data[0, 0, ::-1, ::-1]), "an impulse draws the kernel"
    print("weight sharing: a shifted impulse gives the shifted response, and an impulse draws the kernel")


def test_unit_batchnorm_layer():
    rng = np.random.default_rng(6)
    bn = BatchNorm2d(3)
    x = Tensor(rng.standard_normal((8, 3, 4, 4)) * 5 + 2)
    y = bn(x).data
    assert np.allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5) and np.allclose(y.std(axis=(0, 2, 3)), 1, atol=1e-3)
    assert np.allclose(bn.running_mean.data, 0.1 * x.data.mean(axis=(0, 2, 3)), atol=1e-5)
    bn.eval()
    z = bn(x).data
    expected = (x.data - bn.running_mean.data.reshape(1, 3, 1, 1)) / np.sqrt(bn.running_var.data.reshape(1, 3, 1, 1) + 1e-5)
    assert np.allclose(z, expected, atol=1e-5)
    bn = BatchNorm2d(2).double()
    x = Tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True, dtype=np.float64)
    assert gradcheck(lambda x, g, b: bn(x), [x, bn.weight, bn.bias])
    print("BatchNorm2d: training normalises each channel and updates running stats; eval uses them; gradcheck passes")


def test_unit_simple_cnn():
    model = SimpleCNN()
    assert sum(p.size for p in model.parameters()) == 896 + 18_496 + 40_970
    logits = model(Tensor(np.random.default_rng(7).standard_normal((4, 3, 32, 32)), dtype=np.float32))
    assert logits.shape == (4, 10)
    logits.sum().backward()
    assert all(p.grad is not None and np.abs(p.grad.data).sum() > 0 for p in model.parameters())
    print("SimpleCNN: (4, 3, 32, 32) -> (4, 10), 60,362 parameters, and every one receives a gradient")


# %% [markdown]
# ## Starting from the data: a whitened first layer
#
# Neighbouring pixels of a photo are strongly correlated: in a 3x3 patch, the 27 numbers mostly move
# together (brightness, colour), and the interesting parts (edges, textures) are small variations on
# top. A first layer trained from random weights spends its first epochs discovering that. We can
# instead compute it: take many 3x3 patches (rows of `im2col`), find the directions in which they vary
# (the eigenvectors of their covariance), and use as filters the strongest directions, each scaled by
# 1 / sqrt(its variance) so that every filter's response has the same scale. This is *whitening*: the
# first layer's outputs are decorrelated and equally loud. Fast CIFAR-10 training recipes (Page 2018,
# Jordan 2024) start this way and keep the layer fixed, which also saves its backward pass. Each
# direction is used twice, as +f and -f, so that the ReLU further on keeps both signs.

# %%
#| export nn.whitening
#| doc patch_whitening: first-layer convolution filters computed from the data
def patch_whitening(images: np.ndarray, kernel_size: int = 3, out_channels: int = 32, eps: float = 5e-4,
                    patches: int = 200_000, seed: int = 0) -> np.ndarray:
    """Whitening filters (out_channels, C, K, K) from the KxK patches of images (N, C, H, W).

    The out_channels // 2 strongest eigenvectors of the patches' covariance, each divided by the square
    root of its eigenvalue plus eps, then the same filters negated: +f and -f.
    """
    if out_channels % 2 or out_channels // 2 > images.shape[1] * kernel_size * kernel_size:
        raise ValueError(
            f"patch_whitening needs an even out_channels of at most {2 * images.shape[1] * kernel_size ** 2} "
            f"(two per patch direction), got {out_channels}."
        )
    rows = im2col(_channels_last(np.asarray(images)), (kernel_size, kernel_size), (1, 1), (0, 0))
    rng = np.random.default_rng(seed)
    rows = rows[rng.choice(len(rows), min(patches, len(rows)), replace=False)].astype(np.float64)
    rows -= rows.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(rows.T @ rows / len(rows))  # ascending
    strongest = np.argsort(eigenvalues)[::-1][: out_channels // 2]
    filters = eigenvectors[:, strongest].T / np.sqrt(eigenvalues[strongest, None] + eps)
    channels = images.shape[1]  # rows are in im2col's (u, v, c) order: back to (C, K, K) kernels
    filters = filters.reshape(-1, kernel_size, kernel_size, channels).transpose(0, 3, 1, 2)
    return np.concatenate([filters, -filters]).astype(np.asarray(images).dtype)


# %%
def test_unit_patch_whitening():
    rng = np.random.default_rng(8)
    base = rng.standard_normal((64, 1, 10, 10))
    images = base + np.roll(base, 1, axis=3)  # neighbouring pixels correlated, as in photos
    filters = patch_whitening(images, kernel_size=2, out_channels=8, eps=0.0)
    assert filters.shape == (8, 1, 2, 2) and np.allclose(filters[4:], -filters[:4])
    responses = conv2d_loops(images, filters[:4]).transpose(1, 0, 2, 3).reshape(4, -1)
    assert np.allclose(np.cov(responses), np.eye(4), atol=0.1), "the responses are decorrelated, each of variance 1"
    print("patch whitening: filters from the patches' covariance give decorrelated responses of equal scale")


# %% [markdown]
# ## Counting: parameters, receptive fields, FLOPs
#
# Three numbers describe a CNN's cost and reach.
#
# - **Parameters**: what the model stores and learns. A Conv2d has OC*C*KH*KW + OC.
# - **Receptive field**: how many input pixels one output value can see. Each KxK convolution adds K-1
#   times the *jump* (the distance in input pixels between neighbouring positions of its input), and
#   every stride multiplies the jump. Stacked 3x3 convolutions grow it by 2 per layer (3, 5, 7, ...);
#   a 2x2 pool doubles the jump, so every later layer grows it twice as fast. That is why CNNs pool:
#   to see the whole object without huge kernels.
# - **FLOPs**: a convolution does C*KH*KW multiply-adds (2 FLOPs each) for every output value, so
#   2 * N * OC * OH * OW * C * KH * KW. The backward pass costs about twice that again.

# %%
#| export nn.counting
#| doc Counting: parameters, receptive fields and FLOPs of a network
def count_parameters(module) -> int:
    """The number of learnable numbers in a Module."""
    return sum(p.size for p in module.parameters())


def receptive_field(layers, axis: int = 0) -> int:
    """How many input pixels (along height, or width with axis=1) one output of a stack of layers sees.

    `layers` holds Conv2d / MaxPool2d / AvgPool2d modules, (kernel_size, stride) pairs, or anything else
    (activations, batch norm), which does not change the receptive field.
    """
    field, jump = 1, 1
    for layer in layers:
        if isinstance(layer, tuple):
            kernel, stride = layer
        elif hasattr(layer, "kernel_size") and hasattr(layer, "stride"):
            kernel, stride = layer.kernel_size[axis], layer.stride[axis]
        else:
            continue
        # Hint: each layer adds (kernel - 1) * jump to the field, then multiplies the jump by its stride.
        ### BEGIN SOLUTION
        field += (kernel - 1) * jump
        jump *= stride
        ### END SOLUTION
    return field


def conv_flops(layer, input_size, batch: int = 1) -> int:
    """Floating-point operations of one forward pass of a Conv2d `layer` on `batch` images of size (H, W)."""
    height, width = _pair(input_size, "input_size")
    oh = conv_output_size(height, layer.kernel_size[0], layer.stride[0], layer.padding[0])
    ow = conv_output_size(width, layer.kernel_size[1], layer.stride[1], layer.padding[1])
    multiply_adds = batch * layer.out_channels * oh * ow * layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1]
    return 2 * multiply_adds


# %%
def test_unit_counting():
    assert count_parameters(Conv2d(3, 32, 3)) == 896 and count_parameters(Conv2d(3, 32, 3, bias=False)) == 864
    assert [receptive_field([(3, 1)] * depth) for depth in (1, 2, 3)] == [3, 5, 7]
    assert receptive_field([(3, 1), (2, 2), (3, 1), (2, 2)]) == 10, "each pool doubles how fast the field grows"
    assert conv_flops(Conv2d(3, 32, 3, padding=1), 32) == 2 * 32 * 32 * 32 * 3 * 9
    print("counting: Conv2d(3, 32, 3) has 896 parameters; 3x3 stacks see 3, 5, 7 pixels; FLOPs = 2 N OC OH OW C KH KW")


# %% [markdown]
# ## The systems view, measured, and what a CNN learns
#
# The cells below measure your layers on your machine and draw what a trained network sees. In a
# notebook each runs where it stands; when this file runs as a script they run after all the tests, and
# one that needs a function you have not written yet says which and moves on.

# %%
_DEMOS = []


def _unwritten(error: NotImplementedError) -> str | None:
    """"conv2d_forward" from a student stub's "TinyTorch 09: implement conv2d_forward"; None otherwise."""
    text = str(error)
    return text.split("implement ", 1)[1] if text.startswith("TinyTorch ") and "implement " in text else None


def _demo(function):
    """Run a demonstration now in a notebook, or after the tests when this file runs as a script."""
    if "ipykernel" in sys.modules:
        _run_demo(function)
    else:
        _DEMOS.append(function)


def _run_demo(function) -> None:
    try:
        function()
    except NotImplementedError as error:
        print(f"({function.__name__} needs {_unwritten(error) or 'unwritten code'}: write it, then run this again)")
    except Exception as error:  # a demonstration never stops the file; the tests report what is wrong
        print(f"({function.__name__} stopped: {type(error).__name__}: {error})")


# %% [markdown]
# The definition against im2col + one matrix multiply, on the same convolution. The loops would take
# minutes on the whole batch, so they run on one image and 4 of the 32 output channels, and their time
# is scaled up (extrapolated) to the whole layer; the vectorised time is measured on all of it.

# %%
def compare_loops_and_vectorised(batch: int = 32, channels: int = 3, size: int = 32, out_channels: int = 32) -> dict:
    """Time conv2d_loops (on a slice, extrapolated) against conv2d_forward (measured), and print the ratio."""
    import time

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, channels, size, size)).astype(np.float32)
    weight = rng.standard_normal((out_channels, channels, 3, 3)).astype(np.float32)
    slice_images, slice_channels = 1, 4
    start = time.perf_counter()
    conv2d_loops(x[:slice_images], weight[:slice_channels], padding=1)
    measured = time.perf_counter() - start
    loops = measured * (batch / slice_images) * (out_channels / slice_channels)
    x_cl = np.ascontiguousarray(_channels_last(x))
    conv2d_forward(x_cl, weight, None, (1, 1), (1, 1))  # warm up
    repeats = 10
    start = time.perf_counter()
    for _ in range(repeats):
        conv2d_forward(x_cl, weight, None, (1, 1), (1, 1))
    fast = (time.perf_counter() - start) / repeats
    multiply_adds = batch * out_channels * size * size * channels * 9
    print(
        f"conv {batch}x{channels}x{size}x{size} -> {out_channels}, 3x3: loops measured {measured:.2f} s on "
        f"{slice_images} image and {slice_channels} output channels, extrapolated to {loops:.1f} s for the layer "
        f"({loops / multiply_adds * 1e9:.0f} ns per multiply-add); im2col + matmul measured {fast * 1e3:.2f} ms "
        f"on the whole layer: {loops / fast:,.0f}x faster"
    )
    return {"loops_s": loops, "vectorised_s": fast, "speedup": loops / fast}


if __name__ == "__main__":
    _demo(compare_loops_and_vectorised)

# %% [markdown]
# Now the same comparison for max pooling. Convolution does about 2 x OC x KH x KW arithmetic
# operations for every number it reads (576 in the layer above), so once it runs as one matrix
# multiply the processor's arithmetic is the limit, and the gap to the loops is thousands of times.
# Pooling does about one comparison per number it reads: the vectorised version is limited by how fast
# its input streams through memory, while each loop step still costs hundreds of nanoseconds of Python.
# So the gap is far smaller. A plain copy of the same input, for scale, reads every number once and
# writes it once: no pooling code can be much faster.

# %%
def compare_pooling_loops_and_vectorised(batch: int = 32, channels: int = 32, size: int = 32) -> dict:
    """Time maxpool2d_loops (on a slice, extrapolated) against maxpool2d_forward, next to a copy."""
    import time

    rng = np.random.default_rng(0)
    x_cl = rng.standard_normal((batch, size, size, channels)).astype(np.float32)
    slice_channels = 4

    def best_of(function, repeats):
        function()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return min(times)

    one_image = _channels_first(x_cl[:1, :, :, :slice_channels])
    loops = best_of(lambda: maxpool2d_loops(one_image, 2), 3) * batch * channels / slice_channels
    fast = best_of(lambda: maxpool2d_forward(x_cl, (2, 2), (2, 2), (0, 0)), 20)
    copy = best_of(lambda: x_cl.copy(), 20)
    comparisons = batch * channels * (size // 2) ** 2 * 3  # three comparisons pick the largest of four
    print(
        f"maxpool 2x2 on {batch}x{channels}x{size}x{size}: loops {loops:.2f} s (extrapolated from one image and "
        f"{slice_channels} channels; {loops / comparisons * 1e9:.0f} ns per comparison), vectorised {fast * 1e3:.2f} ms "
        f"({x_cl.nbytes / fast / 1e9:.1f} GB/s of input): {loops / fast:,.0f}x faster; copying the input takes "
        f"{copy * 1e3:.2f} ms"
    )
    return {"loops_s": loops, "vectorised_s": fast, "copy_s": copy, "speedup": loops / fast}


if __name__ == "__main__":
    _demo(compare_pooling_loops_and_vectorised)

# %% [markdown]
# The im2col matrix's memory, for each convolution of SimpleCNN on a batch of 128, against the memory
# of the layer's input. The factor is KH*KW (here 9): speed bought with memory. The layers never hold
# all of it: they build it a slice of the batch at a time (see "Making it fast").

# %%
def im2col_memory(batch: int = 128) -> list:
    """Bytes of the input and of the im2col matrix for each Conv2d of SimpleCNN."""
    rows = []
    model, size = SimpleCNN(), 32
    for conv in (model.conv1, model.conv2):
        kh, kw = conv.kernel_size
        out = conv_output_size(size, kh, conv.stride[0], conv.padding[0])
        input_bytes = batch * conv.in_channels * size * size * 4
        cols_bytes = batch * out * out * conv.in_channels * kh * kw * 4
        rows.append((repr(conv), input_bytes, cols_bytes))
        per_image = cols_bytes // batch
        images = _per_slice(per_image)
        print(f"{repr(conv)}: input {input_bytes / 2**20:.1f} MiB, im2col {cols_bytes / 2**20:.1f} MiB "
              f"({cols_bytes / input_bytes:.0f}x); built {images} images at a time: "
              f"{images * per_image / 2**20:.1f} MiB per thread")
        size = out // 2
    return rows


if __name__ == "__main__":
    _demo(im2col_memory)

# %% [markdown]
# Where SimpleCNN's parameters and arithmetic are, computed from the layers: the convolutions hold few
# parameters but do almost all the work; the Linear layer is the opposite. Weight sharing makes the
# difference: a dense layer doing the first convolution's job would need a hundred thousand times more.

# %%
def simple_cnn_budget(batch: int = 1) -> list:
    """A table of SimpleCNN's layers: parameters and forward MFLOPs per image, computed from the layers."""
    model = SimpleCNN()
    table = [
        ("conv1", count_parameters(model.conv1), conv_flops(model.conv1, 32, batch)),
        ("conv2", count_parameters(model.conv2), conv_flops(model.conv2, 16, batch)),
        ("fc", count_parameters(model.fc), 2 * batch * model.fc.in_features * model.fc.out_features),
    ]
    print(f"{'layer':<7}{'parameters':>12}{'MFLOPs':>10}")
    for name, params, flops in table:
        print(f"{name:<7}{params:>12,}{flops / 1e6:>10.1f}")
    print(f"{'total':<7}{count_parameters(model):>12,}{sum(f for _, _, f in table) / 1e6:>10.1f}")
    inputs, outputs = 3 * 32 * 32, 32 * 32 * 32
    print(f"a dense layer doing conv1's job ({inputs:,} -> {outputs:,}) would hold {inputs * outputs + outputs:,} "
          f"parameters: {(inputs * outputs + outputs) / count_parameters(model.conv1):,.0f}x conv1's")
    return table


if __name__ == "__main__":
    _demo(simple_cnn_budget)

# %% [markdown]
# Receptive fields grow by 2 per stacked 3x3 convolution, and twice as fast after each 2x2 pool:

# %%
def receptive_field_table() -> None:
    for depth in (1, 2, 3, 5):
        plain = receptive_field([(3, 1)] * depth)
        pooled = receptive_field([(3, 1), (2, 2)] * depth)
        print(f"{depth} conv3x3 layers: {plain}x{plain} pixels; each followed by a 2x2 pool: {pooled}x{pooled}")
    model = SimpleCNN()
    stack = [model.conv1, model.pool1, model.conv2, model.pool2]
    print(f"SimpleCNN sees {receptive_field(stack)}x{receptive_field(stack)} pixels before its classifier")


if __name__ == "__main__":
    _demo(receptive_field_table)

# %% [markdown]
# Max against average pooling on one small picture: max keeps the bright pixel, average dilutes it.
# Then why BatchNorm helps, in one experiment: push a batch through a stack of convolutions with
# slightly too large random weights and watch the activations' scale compound layer after layer. With
# a BatchNorm2d after each convolution it stays put at 0.58, the standard deviation of max(z, 0) for a
# standard normal z, however deep the stack.

# %%
def max_vs_average() -> None:
    picture = np.zeros((1, 1, 4, 4), dtype=np.float32)
    picture[0, 0, 0, 1] = 8.0
    picture[0, 0, 3, 3] = 4.0
    print("max pooling 2x2:", MaxPool2d(2)(Tensor(picture)).data[0, 0].tolist())
    print("avg pooling 2x2:", AvgPool2d(2)(Tensor(picture)).data[0, 0].tolist())


def activation_scale(depth: int = 8, gain: float = 1.5) -> None:
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((16, 16, 8, 8)), dtype=np.float32)
    plain, normed = x, x
    for layer in range(depth):
        conv = Conv2d(16, 16, 3, padding=1)
        conv.weight.data *= gain
        plain, normed = relu(conv(plain)), relu(BatchNorm2d(16)(conv(normed)))
        print(f"after conv {layer + 1}: std without BatchNorm {plain.data.std():10.3f}, with {normed.data.std():.3f}")


if __name__ == "__main__":
    _demo(max_vs_average)
    _demo(activation_scale)

# %% [markdown]
# ## Seeing what a CNN learned
#
# Numbers say how well a network does; pictures say what it does. The cell below trains a SimpleCNN
# for a few seconds on the course's small handwritten digits (8x8, scaled up to 32x32, one channel),
# then draws its first layer's 32 filters on one shared colour scale (so a weak filter looks weak) and
# the feature maps one digit produces after each conv block: the first layer responds to strokes and
# edges in particular directions, the second to combinations of them. With matplotlib installed it
# draws a picture; without, a text rendering that needs nothing but a terminal.

# %%
SHADES = " .:-=+*#%@"


def _text_image(array: np.ndarray, low: float, high: float) -> list:
    """Rows of characters, darker for larger values, on the shared scale [low, high]."""
    scaled = np.clip((array - low) / (high - low + 1e-12), 0, 1) * (len(SHADES) - 1)
    return ["".join(SHADES[int(round(v))] for v in row) for row in scaled]


def _print_grid(title: str, images: list, low: float, high: float, per_row: int = 8) -> None:
    print(title)
    for first in range(0, len(images), per_row):
        rendered = [_text_image(image, low, high) for image in images[first : first + per_row]]
        for line in range(len(rendered[0])):
            print("  " + "  ".join(r[line] for r in rendered))
        print()


def what_a_cnn_learns(epochs: int = 2, seed: int = 0) -> dict:
    """Train SimpleCNN briefly on tinydigits; draw its first-layer filters and one digit's feature maps."""
    from tinytorch.autograd.function import no_grad
    from tinytorch.nn.losses import CrossEntropyLoss
    from tinytorch.optim.adam import Adam
    from tito.datasets import load_tinydigits

    x_train, y_train, x_test, _ = load_tinydigits()
    upscale = lambda images: np.kron(images, np.ones((1, 1, 4, 4), dtype=np.float32))  # 8x8 -> 32x32
    np.random.seed(seed)
    model = SimpleCNN(in_channels=1)
    optimizer, loss_fn = Adam(model.parameters(), lr=0.003), CrossEntropyLoss()
    order = np.random.default_rng(seed).permutation(len(x_train))
    for _ in range(epochs):
        for start in range(0, len(order), 64):
            batch = order[start : start + 64]
            optimizer.zero_grad()
            loss = loss_fn(model(Tensor(upscale(x_train[batch]))), y_train[batch])
            loss.backward()
            optimizer.step()
    filters = model.conv1.weight.data[:, 0]
    with no_grad():
        model.eval()
        maps = [m.data[0] for m in model.feature_maps(Tensor(upscale(x_test[:1])))]
    try:
        import matplotlib

        matplotlib.use("Agg" if "ipykernel" not in sys.modules else matplotlib.get_backend())
        import matplotlib.pyplot as plt
    except ImportError:
        plt = None
    if plt is None:
        limit = np.abs(filters).max()
        _print_grid("first-layer filters (shared scale; darker = larger weight)", list(filters), -limit, limit)
        for number, fmap in enumerate(maps, start=1):
            strongest = np.argsort(fmap.reshape(len(fmap), -1).max(axis=1))[::-1][:8]
            _print_grid(f"block {number}: the 8 most active of {len(fmap)} feature maps of one test digit",
                        [fmap[i] for i in strongest], 0.0, float(fmap.max()))
        return {"filters": filters, "feature_maps": maps}
    import tempfile

    figure, axes = plt.subplots(3, 8, figsize=(12, 5))
    limit = np.abs(filters).max()
    for index, ax in enumerate(axes[0]):
        ax.imshow(filters[index], cmap="RdBu", vmin=-limit, vmax=limit)
    for row, fmap in zip(axes[1:], maps):
        strongest = np.argsort(fmap.reshape(len(fmap), -1).max(axis=1))[::-1][:8]
        for ax, channel in zip(row, strongest):
            ax.imshow(fmap[channel], cmap="gray", vmin=0, vmax=fmap.max())
    for ax in axes.flat:
        ax.axis("off")
    figure.suptitle("first-layer filters (top, shared scale); a test digit after conv block 1 and 2")
    path = os.path.join(tempfile.gettempdir(), "tinytorch-09-what-a-cnn-learned.png")
    figure.savefig(path, dpi=80)
    if "ipykernel" in sys.modules:
        plt.show()
    plt.close(figure)
    print(f"drew the first layer's filters and one digit's feature maps: {path}")
    return {"filters": filters, "feature_maps": maps, "picture": path}


if __name__ == "__main__":
    _demo(what_a_cnn_learns)

# %% [markdown]
# ## Running this file
#
# `python modules/09_spatial/spatial.py` runs every test above in order, then the measurements, and
# ends with how many tests passed and which functions are still to write. It exits with an error code
# while any test fails, so a script can tell.

# %%
def run_inline_tests(namespace: dict) -> int:
    """Run every test_unit_* function in order, then the demonstrations; print the tally; 0 if all passed."""
    import traceback

    tests = [value for name, value in namespace.items() if name.startswith("test_unit_") and callable(value)]
    passed, unwritten = 0, []
    for test in tests:
        try:
            test()
            passed += 1
        except NotImplementedError as error:
            name = _unwritten(error)
            if name and name not in unwritten:
                unwritten.append(name)
            print(f"NOT YET {test.__name__}: needs {name or error}")
        except Exception as error:
            here = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == __file__]
            where = f" (line {here[-1].lineno})" if here else ""
            message = (str(error).strip().splitlines() or [""])[0]
            print(f"FAILED {test.__name__}: {type(error).__name__}: {message}{where}")
    for demo in _DEMOS:
        _run_demo(demo)
    print(f"Module 09: {passed} of {len(tests)} inline tests passed")
    unwritten = _stubs_in_this_file() or unwritten
    if unwritten:
        print("Still to write: " + ", ".join(unwritten))
    return 0 if passed == len(tests) else 1


def _stubs_in_this_file() -> list:
    """Every function of this file that is still a stub, in file order (read from the file itself)."""
    import re

    try:
        with open(__file__, encoding="utf-8") as handle:
            text = handle.read()
    except (NameError, OSError):  # a notebook has no __file__: the failing tests have named them
        return []
    names = re.findall(r'raise NotImplementedError\("TinyTorch \d+: implement ([\w.]+)"\)', text)
    return list(dict.fromkeys(names))


if __name__ == "__main__":
    status = run_inline_tests(globals())
    if "ipykernel" not in sys.modules:  # a script exits with it; a notebook just shows the tally
        sys.exit(status)
