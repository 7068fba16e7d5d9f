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
# Neighbouring pixels belong together, and a cat is a cat wherever it sits in the picture. A
# convolution builds both facts into the layer: a small filter looks at one neighbourhood at a time,
# and the *same* filter slides over every position. You write, each followed at once by its test: the
# output size of a sliding window; convolution and max pooling as loops; **im2col**, every window of a
# batch as a row of a matrix; the convolution as **one matrix multiply** and its backward pass; max and
# average pooling; batch normalisation; the receptive field of a stack of layers. Given, to read: the
# layers built on your kernels, the engine that runs them on every core, and the layout helpers (both
# framework files, introduced below). Longer demonstrations are in the companion [demos.py](demos.py).
#
# Run this file (`python modules/09_spatial/spatial.py`) at any stage: it runs every test, then the
# measurements, and ends with how many tests pass and which functions are still to write (exit code 1
# while a test fails).

# %%
#| default_exp nn.conv

# %%
#| export
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinytorch.autograd.function import Function
from tinytorch.autograd import gradcheck
from tinytorch.tensor import Tensor, as_tensor
from tinytorch.nn import engine
from tinytorch.nn.activations import relu
from tinytorch.nn.init import kaiming_uniform
from tinytorch.nn.layout import (_channels_first, _channels_last, _extended, _grouped, _offsets, _pad_channels_last,
                                 _pad_spatial, _pair, _rows, _ungrouped, _weight_from_matrix, _weight_matrix, _window_values,
                                 batchnorm_arguments, ceil_mode_extra, check_batch, conv_arguments, pool_arguments)
from tinytorch.nn.linear import Linear
from tinytorch.nn.module import Module, Parameter

# %% [markdown]
# ## Sizes first: what comes out of a convolution
#
# A kernel of size K slides over an input of size H with step S (the stride), after P zeros are added
# on each border (the padding). A *dilated* kernel spreads its K taps D pixels apart, spanning D*(K-1)+1
# pixels. The last window must end inside the padded input, so there are `(H + 2P - D*(K-1) - 1) // S + 1`
# positions: a 3x3 kernel with padding 1 and stride 1 keeps the size ("same" padding), a 2x2 pool with
# stride 2 halves it. Sizes are an int (height and width alike) or a (height, width) pair, as in PyTorch.

# %%
#| export nn.kernels
def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """How many positions a kernel takes along one axis: (size + 2*padding - dilation*(kernel_size-1) - 1) // stride + 1."""
    ### BEGIN SOLUTION
    positions = (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
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
    assert conv_output_size(10, 3, dilation=2) == 6, "a 3-tap kernel with dilation 2 spans 5 pixels"
    try:
        conv_output_size(2, 5)
    except ValueError as error:
        assert "does not fit" in str(error)
    else:
        raise AssertionError("a kernel larger than the padded input must raise")
    print("output size: (H + 2P - D(K-1) - 1) // S + 1, and a kernel that does not fit is refused")


# %% [markdown]
# ## Convolution as loops: the definition
#
# For x (N, C, H, W) and weights (OC, C, KH, KW), output channel o at position (i, j) is
#
#     out[n, o, i, j] = bias[o] + sum over c, u, v of  x[n, c, i*S + u*D, j*S + v*D] * weight[o, c, u, v]
#
# with x padded by P zeros. **Groups** split the channels into G independent convolutions: output
# channel o sees only its group's C/G input channels, so the weights are (OC, C/G, KH, KW); with G = C
# each channel has its own filter (*depthwise*, the heart of mobile networks). The loops are that
# formula, one multiply-add at a time: the reference every faster version is tested against.

# %%
#| export nn.kernels
def conv2d_loops(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """Convolution by the definition, one multiply-add at a time (for teaching and for tests).

    x (N, C, H, W), weight (OC, C // groups, KH, KW), bias (OC,) or None; NumPy arrays or Tensors.
    """
    x, weight = np.asarray(getattr(x, "data", x)), np.asarray(getattr(weight, "data", weight))
    bias = None if bias is None else np.asarray(getattr(bias, "data", bias))
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    n_images, _, height, width = x.shape
    out_channels, group_channels, kh, kw = weight.shape
    oh, ow = conv_output_size(height, kh, sh, ph, dh), conv_output_size(width, kw, sw, pw, dw)
    xp = _pad_spatial(x, (ph, pw))
    out = np.zeros((n_images, out_channels, oh, ow), dtype=np.result_type(x, weight))
    # Hint: loop n, o, i, j over the output; g = o // (out_channels // groups) is o's group. Start each
    # total at the bias (or 0), then add xp[n, g*group_channels + c, i*sh + u*dh, j*sw + v*dw] * weight[o, c, u, v]
    # for every c in range(group_channels), u and v.
    ### BEGIN SOLUTION
    for n in range(n_images):
        for o in range(out_channels):
            first = (o // (out_channels // groups)) * group_channels  # the group's first input channel
            for i in range(oh):
                for j in range(ow):
                    total = 0.0 if bias is None else bias[o]
                    for c in range(group_channels):
                        for u in range(kh):
                            for v in range(kw):
                                total += xp[n, first + c, i * sh + u * dh, j * sw + v * dw] * weight[o, c, u, v]
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
    two = np.concatenate([image, 10 * image], axis=1)  # two channels
    assert np.array_equal(conv2d_loops(two, np.ones((2, 1, 1, 1)), groups=2), two), "a group sees its own channels only"
    dilated = conv2d_loops(image, np.ones((1, 1, 2, 2)), dilation=2)
    assert dilated.shape == (1, 1, 2, 2) and dilated[0, 0, 0, 0] == 0 + 2 + 8 + 10, "taps two pixels apart"
    assert maxpool2d_loops(image, 2).tolist() == [[[[5, 7], [13, 15]]]]
    assert maxpool2d_loops(-image, 3, stride=1, padding=1)[0, 0, 0, 0] == 0, "padding never wins a max"
    print("loops: a one-pixel kernel copies the image, ones sum each window, strides skip, groups split, dilation spreads")


# %% [markdown]
# ## Channels last
#
# From here on the kernels take (N, H, W, C) arrays: one window row's numbers sit side by side in
# memory, and (pixels, channels) matrices are a reshape. The layers keep PyTorch's (N, C, H, W) shape
# outside and hand the kernels the view `x.transpose(0, 2, 3, 1)`, which copies nothing. Such layout
# helpers are given in `tinytorch/nn/layout.py` (read it): `_channels_last` / `_channels_first`,
# `_pad_channels_last(x, padding, value)`, `_pair` (3 -> (3, 3)), `_offsets` and `_window_values`.

# %% [markdown]
# ## im2col: every window as one row
#
# For a fixed output pixel the sum over (c, u, v) is a dot product of the window with the kernel. Lay
# every window out as one row of a matrix `cols`, columns in (u, v, c) order, and the kernels as the
# columns of a matrix `W`: every output of the layer is one entry of `cols @ W` (im2col, "image to columns").
#
# `sliding_window_view(padded, (E, F), axis=(1, 2))` views every E x F window of a padded (N, H, W, C)
# input as an (N, OH', OW', C, E, F) array *in the input's memory*. A stride S is the slice `[:, ::S, ::S]`,
# a dilation D `[..., ::D, ::D]` of a window D*(K-1)+1 wide. The one copy is the reshape to
# (N*OH*OW, KH*KW*C), after a transpose to (N, OH, OW, KH, KW, C): KH*KW copies of every pixel, 36 MiB
# for SimpleCNN's second layer on 128 images (so the engine builds it in slices).

# %%
#| export nn.kernels
def im2col(x: np.ndarray, kernel_size: tuple, stride: tuple, padding: tuple, dilation: tuple = (1, 1)) -> np.ndarray:
    """Every window of x (N, H, W, C) as one row: a (N*OH*OW, KH*KW*C) matrix, columns in (u, v, c) order."""
    kh, kw = kernel_size
    (sh, sw), (dh, dw) = stride, dilation
    padded = _pad_channels_last(x, padding)
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)  # the pixels a dilated window covers
    # Hint: sliding_window_view(padded, span, axis=(1, 2)) views every window as (N, OH', OW', C, E, F);
    # slice [:, ::sh, ::sw, :, ::dh, ::dw] for the stride and the dilation, transpose it to
    # (N, OH, OW, KH, KW, C) and reshape it to (N*OH*OW, KH*KW*C): that reshape is the one copy.
    ### BEGIN SOLUTION
    windows = sliding_window_view(padded, span, axis=(1, 2))[:, ::sh, ::sw, :, ::dh, ::dw]  # (N, OH, OW, C, KH, KW)
    n, oh, ow, c = windows.shape[:4]
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, kh * kw * c)
    ### END SOLUTION


# %%
def test_unit_im2col():
    x = np.arange(2 * 5 * 6 * 3, dtype=np.float64).reshape(2, 5, 6, 3)  # (N, H, W, C)
    cols = im2col(x, (2, 3), (1, 2), (0, 1))
    assert cols.shape == (2 * 4 * 3, 2 * 3 * 3), "(N*OH*OW, KH*KW*C) = (24, 18) with OH = 4 and OW = 3"
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))
    row = 1 * 12 + 2 * 3 + 1  # image 1, output pixel (2, 1): the window starts at row 2, column 1 * 2
    assert np.array_equal(cols[row], padded[1, 2:4, 2:5, :].reshape(-1)), "one row is one window in (u, v, c) order"
    dilated = im2col(x, (2, 2), (1, 1), (0, 0), (2, 3))
    assert dilated.shape == (2 * 3 * 3, 2 * 2 * 3) and np.array_equal(dilated[0], x[0, 0:3:2, 0:4:3].reshape(-1))
    print("im2col: (N*OH*OW, KH*KW*C) rows, each one window in (u, v, c) order; strides, padding and dilation")


# %% [markdown]
# ## The convolution as one matrix multiply
#
# With the kernels as the columns of a (KH*KW*C, OC) matrix `W` in the same (u, v, c) order, the layer
# is `cols @ W` plus the bias on every row: (N*OH*OW, OC), which reshaped to (N, OH, OW, OC) *is* the
# channels-last output. **Groups are a stack of matrix multiplies**, with three given helpers from
# layout.py: `_grouped` cuts `cols` into a stack (G, rows, KH*KW*C/G), `_weight_matrix` makes the stack
# (G, KH*KW*C/G, OC/G), `@` multiplies the stacks matrix by matrix, and `_ungrouped` sets the groups'
# outputs side by side, (rows, OC). With G = 1 each step is a free reshape.

# %%
#| export nn.kernels
def conv2d_forward(x: np.ndarray, weight: np.ndarray, bias, stride: tuple, padding: tuple, dilation: tuple = (1, 1),
                   groups: int = 1) -> np.ndarray:
    """Convolution of x (N, H, W, C) with weight (OC, C/G, KH, KW) and bias (OC,) or None: (N, OH, OW, OC)."""
    n, height, width, channels = x.shape
    out_channels, _, kh, kw = weight.shape
    oh = conv_output_size(height, kh, stride[0], padding[0], dilation[0])
    ow = conv_output_size(width, kw, stride[1], padding[1], dilation[1])
    # Hint: _grouped(im2col(...), channels, groups) @ _weight_matrix(weight, groups), _ungrouped, plus the
    # bias when there is one (it broadcasts over the rows), reshaped to (n, oh, ow, out_channels).
    ### BEGIN SOLUTION
    cols = _grouped(im2col(x, (kh, kw), stride, padding, dilation), channels, groups)
    rows = _ungrouped(cols @ _weight_matrix(weight, groups))
    if bias is not None:
        rows += bias
    return rows.reshape(n, oh, ow, out_channels)
    ### END SOLUTION


# %%
def test_unit_conv_forward():
    rng = np.random.default_rng(0)
    for x_shape, w_shape, stride, padding, dilation, groups in (
        ((2, 3, 7, 6), (4, 3, 3, 2), (1, 1), (0, 0), (1, 1), 1),
        ((1, 2, 9, 7), (3, 2, 3, 3), (2, 1), (1, 1), (1, 1), 1),
        ((2, 1, 6, 8), (2, 1, 2, 4), (2, 3), (2, 1), (1, 1), 1),
        ((2, 4, 8, 7), (6, 2, 3, 2), (1, 2), (2, 1), (2, 1), 2),
        ((1, 3, 7, 7), (3, 1, 3, 3), (1, 1), (1, 1), (1, 2), 3),  # depthwise
    ):
        x, weight, bias = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
        fast = conv2d_forward(_channels_last(x), weight, bias, stride, padding, dilation, groups)
        assert np.allclose(_channels_first(fast), conv2d_loops(x, weight, bias, stride, padding, dilation, groups))
    print("conv2d_forward: im2col + matrix multiplies equal the seven loops: strides, paddings, dilations, groups")


# %% [markdown]
# ## The convolution's backward pass
#
# With `out = cols @ W + b` the gradients are those of a Linear layer, `dout` being the output gradient
# as a (N*OH*OW, OC) matrix (a stack (G, rows, OC/G) with groups):
#
# - `dW = cols.T @ dout`: every window times the gradient of the pixel it made, summed: weight sharing,
#   seen from learning. Recompute `cols` (cheaper than storing 9 copies of the input);
#   `_weight_from_matrix` (given) turns the stack back into kernels. `db = ones @ dout` (BLAS, faster than `.sum(0)`).
# - dx: each pixel was copied into KH*KW windows, so its gradient sums its copies'. The copies at offset
#   (u, v) have gradient `dout @ weight[:, :, u, v]` (all offsets in one stacked `@`) and sit at rows
#   `[u*D :: S]`, columns `[v*D :: S]` of the padded input: KH*KW strided additions into a zeroed padded
#   array, each streaming through memory; never a Python loop over pixels, never `np.add.at`.
#
# The test is a float64 gradient check on rectangular kernels, strides, dilations and groups, so a
# transposed weight gradient cannot pass.

# %%
#| export nn.kernels
def conv2d_backward(grad: np.ndarray, x: np.ndarray, weight: np.ndarray, stride: tuple, padding: tuple,
                    dilation: tuple = (1, 1), groups: int = 1, need_input_grad: bool = True) -> tuple:
    """Gradients (dx, dweight, dbias) of conv2d_forward, given grad = dL/dout (N, OH, OW, OC).

    dx (N, H, W, C) is None when need_input_grad is False (a network's first layer needs none).
    """
    n, height, width, channels = x.shape
    out_channels, _, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    oh, ow = grad.shape[1:3]
    dout = grad.reshape(-1, out_channels)  # one row per output pixel
    dout_stack = dout.reshape(-1, groups, out_channels // groups).transpose(1, 0, 2)  # (G, rows, OC/G)
    dx = None
    # Hint: cols = _grouped(im2col(...), channels, groups); dweight = _weight_from_matrix(cols.transpose(0, 2, 1)
    # @ dout_stack, weight.shape); dbias = np.ones(rows) @ dout. When need_input_grad: the weights of each offset
    # as a stack, weight.reshape(groups, -1, weight.shape[1], kh * kw).transpose(3, 0, 1, 2), so that
    # dout_stack @ it is every offset's block (KH*KW, G, rows, C/G); transpose(0, 2, 1, 3) and reshape to
    # (kh * kw, rows, channels); add each block, reshaped to (n, oh, ow, channels), into a zeroed padded
    # gradient at [u*dh : u*dh + sh*oh : sh, v*dw : v*dw + sw*ow : sw]; dx is the part inside the padding.
    ### BEGIN SOLUTION
    cols = _grouped(im2col(x, (kh, kw), stride, padding, dilation), channels, groups)
    dweight = _weight_from_matrix(cols.transpose(0, 2, 1) @ dout_stack, weight.shape)
    dbias = np.ones(dout.shape[0], dtype=dout.dtype) @ dout
    if need_input_grad:
        per_offset = weight.reshape(groups, -1, weight.shape[1], kh * kw).transpose(3, 0, 1, 2)  # (KH*KW, G, OC/G, C/G)
        blocks = (dout_stack @ per_offset).transpose(0, 2, 1, 3).reshape(kh * kw, -1, channels)  # (KH*KW, rows, C)
        dx_padded = np.zeros((n, height + 2 * ph, width + 2 * pw, channels), dtype=x.dtype)
        for block, (u, v) in zip(blocks, _offsets((kh, kw))):
            window = dx_padded[:, u * dh : u * dh + sh * oh : sh, v * dw : v * dw + sw * ow : sw]
            window += block.reshape(n, oh, ow, channels)
        dx = dx_padded[:, ph : ph + height, pw : pw + width]
    ### END SOLUTION
    return dx, dweight, dbias


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
        lambda x, w, b, **o: conv2d_forward(x, w, b, **o),
        lambda grad, x, w, b, **o: conv2d_backward(grad, x, w, **o),
    )
    for stride, padding, dilation, groups in (((1, 1), (1, 1), (1, 1), 1), ((2, 1), (0, 2), (1, 1), 1),
                                              ((1, 2), (2, 1), (2, 1), 2)):
        x, b = _leaf(rng.standard_normal((2, 5, 6, 2))), _leaf(rng.standard_normal(4))
        w = _leaf(rng.standard_normal((4, 2 // groups, 3, 2)))
        options = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        assert gradcheck(lambda x, w, b: conv.apply(x, w, b, **options), [x, w, b])
    dx, _, _ = conv2d_backward(np.ones((1, 3, 3, 3)), np.ones((1, 3, 3, 2)), np.ones((3, 2, 1, 1)), (1, 1), (0, 0),
                               need_input_grad=False)
    assert dx is None, "no input gradient when none is needed"
    print("conv2d_backward: dx, dweight and dbias agree with float64 finite differences (dilated and grouped too)")

# %% [markdown]
# ## Pooling: smaller images, tolerance to small shifts
#
# A pool summarises each window of each channel by its maximum or its mean, with no weights. A 2x2 pool
# with stride 2 halves the image, so the next convolution sees twice as far for the same cost, and a
# feature moving a pixel inside a window leaves a max-pooled output unchanged. The values at offset
# (u, v) of *all* windows are one strided slice, `_window_values(x, (u, v), stride, (OH, OW))`, so
# pooling is K*K whole-array operations. Max pooling remembers which offset won each window (`winner`,
# one byte; a tie goes to the first, as in PyTorch) and sends each gradient to it; average spreads it
# evenly. Padding is -inf for max, 0 for average. Where windows overlap, add gradients, never overwrite.

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
# As a network trains, the scale of each layer's input drifts and compounds through the stack. Batch
# normalisation (Ioffe and Szegedy, 2015) fixes it: per channel, subtract the batch mean, divide by the
# batch standard deviation (over N, H and W), then apply a learned scale and shift,
# `y = gamma * (x - mean) / sqrt(var + eps) + beta`. A channels-last array reshaped to (N*H*W, C) `rows`
# makes per-channel statistics column statistics. **Backward**, with `inv_std = 1 / sqrt(var + eps)` and
# M rows: `dbeta = sum(dy)`, `dgamma = sum(dy * xhat)`, `dx = gamma * inv_std * (dy - dbeta / M - xhat *
# dgamma / M)`: the sums first, then dx. Batch norm is memory-bound, so count passes: writing a for
# gamma times inv_std,
#
#     dx = dy * a + x * b + c,   b = -a * inv_std * dgamma / M,   c = -a * dbeta / M - mean * b
#
# three passes, no `xhat` array; likewise `sum(dy * xhat) = (sum(dy * x) - mean * sum(dy)) * inv_std`.

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
# ## Making it fast: the engine (given, in `tinytorch/nn/engine.py`)
#
# Caches are ten times faster than main memory but hold a few MiB, so a whole batch's 36 MiB `cols`
# goes out to memory and back; and one Python thread uses one core. So the layers hand your kernels to
# the engine, which runs them on slices of the batch whose `cols` is about 2 MiB, on every core (NumPy
# releases Python's lock in copies and matrix products):
#
#     batch (N, H, W, C)   | slice 0 | slice 1 | slice 2 | slice 3 | slice 4 |
#     threads               A: your   B: your   A: your   B: your   A: your     the next free thread
#                              kernel    kernel    kernel    kernel    kernel    takes the next slice
#     output (N, OH, OW, OC)  | out 0   | out 1   | out 2   | out 3   | out 4   | stitched; dW summed in order
#
# `engine.sliced(maxpool2d_forward, (x,), (kernel_size, stride, padding), item_bytes=...)` runs
# `maxpool2d_forward(x[a:b], kernel_size, stride, padding)` on every slice [a, b); sums over the batch
# (weight gradients, batch statistics) are added across slices. One given exception to "every number is
# yours": wide 3x3 stride-1 layers (32+ channels in and out) run Winograd's F(2x2, 3x3) (Lavin and Gray,
# 2015; `tinytorch/nn/winograd.py`), 16 multiplications per 2x2 block of outputs where im2col spends 36,
# tested against your kernels. Tests: tests/09_spatial/test_spatial_engine.py.

# %%
def test_unit_engine_runs_your_kernels():
    rng = np.random.default_rng(4)
    x, weight = rng.standard_normal((5, 6, 6, 4)), rng.standard_normal((6, 2, 3, 3))
    options = {"stride": (1, 1), "padding": (1, 1), "dilation": (1, 1), "groups": 2}
    sliced = engine.sliced(lambda part: conv2d_forward(part, weight, None, **options), (x,), item_bytes=2**30)
    assert np.allclose(sliced, conv2d_forward(x, weight, None, **options)), "one image per slice, same numbers"
    print("engine: your kernel on slices of the batch gives the numbers it gives on the whole batch")


# %% [markdown]
# ## The layers
#
# Each layer owns its weights, checks its input, and calls a module 05 `Function` whose passes hand the
# engine channels-last views; outputs keep channels-last memory under PyTorch's (N, C, H, W) shape, so
# the next layer reads them at no cost. One (C, H, W) image is a batch of one. `Conv2d` starts from He
# et al.'s (2015) uniform +-sqrt(6 / fan_in), fan_in = C/G*KH*KW. **Weight sharing**: `Conv2d(3, 32, 3)`
# has 896 parameters whatever the image size; a Linear layer making the same output from a 32x32 RGB
# image would need 100 million. **Depthwise-separable** convolution (MobileNet, 2017): a depthwise KxK
# convolution (groups = C: space) then a 1x1 one (channels), C*K*K + C*OC weights instead of C*OC*K*K.

# %%
#| export nn.conv
class Conv2dFunction(Function):
    """The differentiable convolution: inputs (x, weight) or (x, weight, bias), x (N, C, H, W)."""

    def forward(self, x, weight, bias=None, options=None):
        x_cl = np.ascontiguousarray(_channels_last(x))  # free for a conv's own output; one copy for photos
        self.save_for_backward(x_cl, weight, options, bias is not None)
        return _channels_first(engine.conv2d(conv2d_forward, x_cl, weight, bias, options))

    def backward(self, grad):
        x_cl, weight, options, has_bias = self.saved
        need_input_grad = self.needs_input_grad[0]  # the first layer's input (images) needs none
        dx, dweight, dbias = engine.conv2d_grads(conv2d_backward, _channels_last(grad), x_cl, weight, need_input_grad,
                                                 options)
        dx = None if dx is None else _channels_first(dx)
        return (dx, dweight, dbias) if has_bias else (dx, dweight)


class Conv2d(Module):
    """2-D convolution over (N, C, H, W) or (C, H, W) input, PyTorch's Conv2d: weight (OC, C/groups, KH, KW).

    >>> conv = Conv2d(3, 8, kernel_size=3, padding="same", dilation=2)
    >>> conv(Tensor(np.zeros((2, 3, 16, 16)))).shape
    (2, 8, 16, 16)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True):
        super().__init__()
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size, self.stride, self.padding, self.dilation = conv_arguments(  # checked, as pairs (layout.py)
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups)
        fan_in = self.in_channels // self.groups * self.kernel_size[0] * self.kernel_size[1]
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Parameter(kaiming_uniform(shape, fan_in=fan_in, a=0.0))  # He initialisation
        self.bias = Parameter(np.zeros(self.out_channels)) if bias else None

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim == 3 and x.shape[0] == self.in_channels:  # one image: a batch of one
            out = self(x.reshape(1, *x.shape))
            return out.reshape(*out.shape[1:])
        check_batch("Conv2d", x.shape, self.in_channels, x.dtype, self.weight.dtype, image_too=True)  # layout.py
        for axis in (0, 1):
            conv_output_size(x.shape[2 + axis], self.kernel_size[axis], self.stride[axis], self.padding[axis],
                             self.dilation[axis])
        options = {"stride": self.stride, "padding": self.padding, "dilation": self.dilation, "groups": self.groups}
        inputs = (x, self.weight) if self.bias is None else (x, self.weight, self.bias)
        return Conv2dFunction.apply(*inputs, options=options)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, bias={self.bias is not None}")


class DepthwiseSeparableConv2d(Module):
    """A depthwise KxK convolution (groups = in_channels) then a pointwise 1x1 one: MobileNet's building block."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 bias: bool = True):
        super().__init__()
        self.depthwise = Conv2d(in_channels, in_channels, kernel_size, stride, padding, dilation, groups=in_channels,
                                bias=False)
        self.pointwise = Conv2d(in_channels, out_channels, 1, bias=bias)
        self.in_channels, self.out_channels = self.depthwise.in_channels, self.pointwise.out_channels
        self.kernel_size, self.stride = self.depthwise.kernel_size, self.depthwise.stride
        self.padding, self.dilation = self.depthwise.padding, self.depthwise.dilation

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


# %%
#| export nn.pool
class MaxPool2dFunction(Function):
    def forward(self, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), extra=(0, 0)):
        x_cl = _extended(_channels_last(x), extra, -np.inf)  # ceil_mode: room for the last, partial window
        out, winner = engine.sliced(maxpool2d_forward, (x_cl,), (kernel_size, stride, padding), item_bytes=x_cl[0].nbytes)
        self.save_for_backward(winner, x_cl.shape, kernel_size, stride, padding, x.shape)
        return _channels_first(out)

    def backward(self, grad):
        winner, x_shape, kernel_size, stride, padding, shape = self.saved

        def backward(grad, winner):
            return maxpool2d_backward(grad, winner, (len(grad), *x_shape[1:]), kernel_size, stride, padding)

        dx = engine.sliced(backward, (_channels_last(grad), winner), item_bytes=int(np.prod(x_shape[1:])) * grad.itemsize)
        return (_channels_first(dx[:, : shape[2], : shape[3]]),)


class AvgPool2dFunction(Function):
    def forward(self, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), share=None):
        x_cl = _channels_last(x)
        out = engine.sliced(avgpool2d_forward, (x_cl,), (kernel_size, stride, padding), item_bytes=x_cl[0].nbytes)
        self.save_for_backward(x_cl.shape, kernel_size, stride, padding, share)
        return _channels_first(out if share is None else out / share)

    def backward(self, grad):
        x_shape, kernel_size, stride, padding, share = self.saved
        grad = _channels_last(grad) if share is None else _channels_last(grad) / share

        def backward(grad):
            return avgpool2d_backward(grad, (len(grad), *x_shape[1:]), kernel_size, stride, padding)

        return (_channels_first(engine.sliced(backward, (grad,), item_bytes=int(np.prod(x_shape[1:])) * grad.itemsize)),)


class _Pool2d(Module):
    """What MaxPool2d and AvgPool2d share: sizes, checks, one image as a batch, and the call to their Function."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = pool_arguments(type(self).__name__, kernel_size, stride, padding)

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim == 3:  # one image (C, H, W): a batch of one
            out = self(x.reshape(1, *x.shape))
            return out.reshape(*out.shape[1:])
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__} expects input of shape (N, C, H, W) or (C, H, W), got {x.shape}.")
        _pool_output_size(_channels_last(x.data).shape, self.kernel_size, self.stride, self.padding)  # raises if it does not fit
        return self.pool(x)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The maximum of each window: (N, C, H, W) -> (N, C, OH, OW); ceil_mode=True keeps a last, partial window."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding)
        self.ceil_mode = bool(ceil_mode)

    def pool(self, x):
        extra = ceil_mode_extra(x.shape[2:], self.kernel_size, self.stride, self.padding) if self.ceil_mode else (0, 0)
        return MaxPool2dFunction.apply(x, kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                                       extra=extra)


class AvgPool2d(_Pool2d):
    """The mean of each window: (N, C, H, W) -> (N, C, OH, OW); count_include_pad=False leaves padding out."""

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def pool(self, x):
        share = None
        if not self.count_include_pad and any(self.padding):  # each window's share of real pixels, from your kernel
            ones = np.ones((1, x.shape[2], x.shape[3], 1), dtype=x.dtype)
            share = avgpool2d_forward(ones, self.kernel_size, self.stride, self.padding)  # (1, OH, OW, 1)
        return AvgPool2dFunction.apply(x, kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                                       share=share)


# %%
#| export nn.norm
class BatchNorm2dFunction(Function):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta; training=False: mean and var are constants (no gradient)."""

    def forward(self, x, gamma, beta, mean=None, var=None, eps=1e-5, training=True):
        inv_std = 1.0 / np.sqrt(var + eps)
        scale = gamma * inv_std
        rows = _rows(x)
        out = engine.batchnorm_affine(rows, scale, beta - mean * scale)
        self.save_for_backward(rows, x.shape, gamma, mean, inv_std, training)
        n, channels, height, width = x.shape
        return _channels_first(out.reshape(n, height, width, channels))

    def backward(self, grad):
        rows, x_shape, gamma, mean, inv_std, training = self.saved
        dx, dgamma, dbeta = engine.batchnorm_grads(batchnorm_param_grads, batchnorm_input_grad, _rows(grad), rows, gamma,
                                                   mean, inv_std, training)
        n, channels, height, width = x_shape
        return _channels_first(dx.reshape(n, height, width, channels)), dgamma, dbeta


class BatchNorm2d(Module):
    """Batch normalisation over (N, C, H, W): per-channel statistics, learned gamma (weight) and beta (bias).

    Training keeps a running average of the statistics (the unbiased variance, as PyTorch) for evaluation,
    so a prediction does not depend on the rest of its batch.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = batchnorm_arguments(num_features, eps, momentum)  # checked
        self.weight = Parameter(np.ones(self.num_features))  # gamma
        self.bias = Parameter(np.zeros(self.num_features))  # beta
        self.register_buffer("running_mean", np.zeros(self.num_features, dtype=np.float32))
        self.register_buffer("running_var", np.ones(self.num_features, dtype=np.float32))
        self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))  # as PyTorch's, in state_dict

    def forward(self, x):
        x = as_tensor(x)
        check_batch("BatchNorm2d", x.shape, self.num_features)
        dtype = self.weight.dtype
        if self.training:
            count = x.size // self.num_features
            if count < 2:
                raise ValueError(
                    f"BatchNorm2d in training mode needs more than one value per channel, got input {x.shape}: "
                    "use a larger batch, or call model.eval()."
                )
            mean, var = engine.statistics(batch_statistics, _rows(x.data))
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
# `Flatten` is a Tensor `reshape` (re-wrapping `x.data` would cut the graph). `SimpleCNN`, the classic
# small CNN for 32x32 colour images: conv 3->32 (3x3, pad 1), ReLU, 2x2 max pool, conv 32->64, ReLU,
# pool, flatten (N, 4096), Linear -> (N, 10).

# %%
#| export nn.flatten
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
    assert Conv2d(3, 8, (3, 5), stride=(2, 1), padding=(1, 2))(Tensor(np.zeros((2, 3, 9, 7)), dtype=np.float32)).shape == (2, 8, 5, 7)
    conv = Conv2d(2, 3, kernel_size=3, padding=1).double()
    x = Tensor(rng.standard_normal((2, 2, 5, 4)), requires_grad=True, dtype=np.float64)
    assert np.allclose(conv(x).data, conv2d_loops(x.data, conv.weight.data, conv.bias.data, padding=1))
    assert gradcheck(lambda x, w, b: conv(x), [x, conv.weight, conv.bias])
    pooled = MaxPool2d(2)(x)
    assert np.array_equal(pooled.data, maxpool2d_loops(x.data, 2)) and pooled.shape == (2, 2, 2, 2)
    assert np.allclose(AvgPool2d(2)(x).data, x.data[:, :, :4, :4].reshape(2, 2, 2, 2, 2, 2).mean(axis=(3, 5)))
    conv, image = Conv2d(1, 1, kernel_size=3, padding=1, bias=False), np.zeros((1, 1, 9, 9), dtype=np.float32)
    image[0, 0, 3, 3] = 1.0  # an impulse draws the (flipped) kernel; shifted, the response shifts with it
    response, shifted = conv(Tensor(image)).data[0, 0], conv(Tensor(np.roll(image, (2, 1), axis=(2, 3)))).data[0, 0]
    assert np.allclose(response[2:5, 2:5], conv.weight.data[0, 0, ::-1, ::-1]), "an impulse draws the kernel"
    assert np.allclose(np.roll(response, (2, 1), axis=(0, 1)), shifted), "weight sharing: the same kernel everywhere"
    print("layers: Conv2d matches the loops, passes gradcheck and shares its weights; pooling matches its definitions")


def test_unit_layer_options():
    rng = np.random.default_rng(9)
    x = Tensor(rng.standard_normal((2, 4, 7, 6)), requires_grad=True, dtype=np.float64)
    conv = Conv2d(4, 6, kernel_size=3, padding="same", dilation=(2, 1), groups=2).double()
    assert conv.weight.shape == (6, 2, 3, 3) and conv(x).shape == (2, 6, 7, 6), "'same' keeps the size"
    expected = conv2d_loops(x.data, conv.weight.data, conv.bias.data, 1, (2, 1), (2, 1), 2)
    assert np.allclose(conv(x).data, expected) and gradcheck(lambda x, w, b: conv(x), [x, conv.weight, conv.bias])
    separable, plain = DepthwiseSeparableConv2d(32, 64, 3, padding=1), Conv2d(32, 64, 3, padding=1)
    assert count_parameters(separable) == 32 * 9 + 32 * 64 + 64 and count_parameters(plain) == 32 * 64 * 9 + 64
    assert conv(x[0]).shape == (6, 7, 6) and MaxPool2d(2)(x[0]).shape == (4, 3, 3), "one (C, H, W) image works"
    assert MaxPool2d(2, ceil_mode=True)(x).shape == (2, 4, 4, 3), "ceil_mode keeps the last, partial window"
    assert np.allclose(MaxPool2d(2, ceil_mode=True)(x).data[:, :, 3, 2], x.data[:, :, 6, 4:6].max(axis=-1))
    mean = AvgPool2d(3, stride=1, padding=1, count_include_pad=False)(x)
    assert np.allclose(mean.data[:, :, 0, 0], x.data[:, :, :2, :2].mean(axis=(2, 3))), "a corner averages 4 pixels"
    assert gradcheck(lambda x: AvgPool2d(3, 2, 1, count_include_pad=False)(x) * 1.0, [x])
    print("options: groups, dilation and padding='same' match the loops and pass gradcheck; ceil_mode, "
          "count_include_pad=False and single images work")


def test_unit_batchnorm_layer():
    rng = np.random.default_rng(6)
    bn, x = BatchNorm2d(3), Tensor(rng.standard_normal((8, 3, 4, 4)) * 5 + 2)
    y = bn(x).data
    assert np.allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5) and np.allclose(y.std(axis=(0, 2, 3)), 1, atol=1e-3)
    assert np.allclose(bn.running_mean.data, 0.1 * x.data.mean(axis=(0, 2, 3)), atol=1e-5)
    running = bn.running_mean.data.reshape(1, 3, 1, 1), bn.running_var.data.reshape(1, 3, 1, 1)
    assert np.allclose(bn.eval()(x).data, (x.data - running[0]) / np.sqrt(running[1] + 1e-5), atol=1e-5)
    bn, x = BatchNorm2d(2).double(), Tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True, dtype=np.float64)
    assert gradcheck(lambda x, g, b: bn(x), [x, bn.weight, bn.bias])
    print("BatchNorm2d: training normalises each channel and updates running stats; eval uses them; gradcheck passes")


def test_unit_simple_cnn():
    model = SimpleCNN()
    assert sum(p.size for p in model.parameters()) == 896 + 18_496 + 40_970
    logits = model(Tensor(np.random.default_rng(7).standard_normal((4, 3, 32, 32)), dtype=np.float32))
    logits.sum().backward()
    assert logits.shape == (4, 10)
    assert all(p.grad is not None and np.abs(p.grad.data).sum() > 0 for p in model.parameters())
    print("SimpleCNN: (4, 3, 32, 32) -> (4, 10), 60,362 parameters, and every one receives a gradient")


# %% [markdown]
# **A first layer computed, not learned.** The strongest directions of the covariance of 3x3 colour
# patches (your `im2col`'s rows), scaled to unit variance, make a fixed *whitening* first layer, as fast
# CIFAR-10 recipes use: given in `tinytorch/nn/whitening.py` (`patch_whitening`), used by the cifar10 milestone.

# %% [markdown]
# ## Counting: parameters, receptive fields, FLOPs
#
# - **Parameters**: a Conv2d has OC*C/G*KH*KW + OC.
# - **Receptive field**, the input pixels one output sees: each KxK layer (dilation D) adds D*(K-1) times
#   the *jump* (the input distance between neighbouring positions of its input); each stride multiplies
#   the jump. Stacked 3x3 convolutions see 3, 5, 7, ... pixels; after a 2x2 pool each layer adds twice as much.
# - **FLOPs**: 2*N*OC*OH*OW*C/G*KH*KW for the forward pass; the backward pass costs about twice that.

# %%
#| export nn.counting
def count_parameters(module) -> int:
    """The number of learnable numbers in a Module."""
    return sum(p.size for p in module.parameters())


def receptive_field(layers, axis: int = 0) -> int:
    """How many input pixels (along height, or width with axis=1) one output of a stack of layers sees.

    `layers` holds Conv2d / MaxPool2d / AvgPool2d modules, (kernel_size, stride) or (kernel_size, stride,
    dilation) tuples, or anything else (activations, batch norm), which does not change the receptive field.
    """
    field, jump = 1, 1
    for layer in layers:
        if isinstance(layer, tuple):
            kernel, stride, dilation = (*layer, 1)[:3]
        elif hasattr(layer, "kernel_size") and hasattr(layer, "stride"):
            kernel, stride = layer.kernel_size[axis], layer.stride[axis]
            dilation = getattr(layer, "dilation", (1, 1))[axis]
        else:
            continue
        # Hint: each layer adds dilation * (kernel - 1) * jump to the field, then multiplies the jump by its stride.
        ### BEGIN SOLUTION
        field += dilation * (kernel - 1) * jump
        jump *= stride
        ### END SOLUTION
    return field


def conv_flops(layer, input_size, batch: int = 1) -> int:
    """Floating-point operations of one forward pass of a Conv2d `layer` on `batch` images of size (H, W)."""
    height, width = _pair(input_size, "input_size")
    if isinstance(layer, DepthwiseSeparableConv2d):
        depthwise = conv_flops(layer.depthwise, input_size, batch)
        out_size = [conv_output_size(s, k, st, p, d) for s, k, st, p, d in
                    zip((height, width), layer.kernel_size, layer.stride, layer.padding, layer.dilation)]
        return depthwise + conv_flops(layer.pointwise, out_size, batch)
    oh = conv_output_size(height, layer.kernel_size[0], layer.stride[0], layer.padding[0], layer.dilation[0])
    ow = conv_output_size(width, layer.kernel_size[1], layer.stride[1], layer.padding[1], layer.dilation[1])
    group_channels = layer.in_channels // layer.groups
    multiply_adds = batch * layer.out_channels * oh * ow * group_channels * layer.kernel_size[0] * layer.kernel_size[1]
    return 2 * multiply_adds


# %%
def test_unit_counting():
    assert count_parameters(Conv2d(3, 32, 3)) == 896 and count_parameters(Conv2d(3, 32, 3, bias=False)) == 864
    assert [receptive_field([(3, 1)] * depth) for depth in (1, 2, 3)] == [3, 5, 7]
    assert receptive_field([(3, 1), (2, 2), (3, 1), (2, 2)]) == 10, "each pool doubles how fast the field grows"
    assert conv_flops(Conv2d(3, 32, 3, padding=1), 32) == 2 * 32 * 32 * 32 * 3 * 9
    assert receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4)]) == 15, "dilations 1, 2, 4: the field doubles"
    assert conv_flops(Conv2d(8, 8, 3, groups=8), 10) == 2 * 8 * 8 * 8 * 9, "a depthwise filter sees one channel"
    print("counting: Conv2d(3, 32, 3) has 896 parameters; 3x3 stacks see 3, 5, 7 pixels; FLOPs = 2 N OC OH OW C KH KW")


# %% [markdown]
# ## The systems view, measured
#
# Each cell asks a question and prints the figures that answer it, measured on your exported layers
# (`tito export 09` first) by the companion [demos.py](demos.py).

# %%
def _measure(name: str) -> None:
    """The companion's measurement `name`: now in a notebook, after the tests in a script, never on import."""
    if __name__ != "__main__":
        return
    from tito.chapter import demo

    def measurement():
        import demos  # modules/09_spatial/demos.py, next to this file

        getattr(demos, name)()

    measurement.__name__ = name
    demo(measurement)


# %% [markdown]
# **Three 3x3 convolutions or one 7x7?** Both see 7x7 pixels (32 channels, 16 images of 32x32).
# *Why did VGG (2014) build from 3x3 stacks, and what do the stack's two extra ReLUs add?*

# %%
_measure("stacks_against_one_big_kernel")

# %% [markdown]
# **What depthwise-separable saves**: a 3x3 layer 64 -> 128 channels on 16x16 images, plain and separable,
# counted by your functions and timed on 32 images. *The FLOPs fall far more than the time: which step
# of your kernels does not shrink with the multiply-adds?*

# %%
_measure("depthwise_separable_costs")

# %% [markdown]
# **The memory a training step holds, by layer**, measured with `tracemalloc` on 64 images against each
# output's N*C*H*W*4 bytes. *Which layers hold more than their output, and what is the extra (what does
# each Function save)?*

# %%
_measure("training_memory_by_layer")

# %% [markdown]
# **Strided convolution or pooling?** Two small LeNets on the course's digits (16x16), one with 2x2 max
# pools, one with stride-2 convolutions, three epochs each. *Which learns its downsampling, which is
# cheaper, and why did all-convolutional networks (ResNet's stride-2 stages) make pooling optional?*

# %%
_measure("strided_conv_against_pooling")

# %% [markdown]
# **How fast the receptive field grows**: 2 per 3x3 layer, twice as fast after each 2x2 pool, doubling
# per layer when the dilations double (1, 2, 4, ...: WaveNet, DeepLab). *An object fills a 224x224
# photo: how many 3x3 layers does each recipe need for one output to see all of it?*

# %%
_measure("receptive_field_growth")

# %% [markdown]
# ## Systems thinking, answered by the figures above
#
# 1. *Where do a CNN's arithmetic and its parameters go?* `conv_flops` and `count_parameters` on
#    SimpleCNN: the convolutions do the work, the Linear layer holds the weights (`test_unit_counting`).
# 2. *Why does a GPU suit convolution?* The 3x3 and 7x7 figures: 2*OC*KH*KW operations per number read,
#    one matrix multiply that thousands of cores share. Pooling does one per number: memory-bound.
# 3. *What limits the batch size in training?* `training_memory_by_layer`: what the forward pass holds.
# 4. *Why do mobile networks use depthwise-separable convolutions, and why is the speed-up smaller than
#    the FLOPs say?* `depthwise_separable_costs`. 5. *Pooling or strides?* `strided_conv_against_pooling`.

# %%
if __name__ == "__main__":
    from tito.chapter import run_chapter

    run_chapter(globals())
