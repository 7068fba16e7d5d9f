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
# slides over every position of the image. In this module you build the layers of every classic CNN:
#
# - `Conv2d`, the sliding filter bank, first as explicit loops (so you see what it computes and what
#   that costs) and then the way real frameworks run it: **im2col**, one copy that lays every window
#   out as a row of a matrix, followed by **one matrix multiplication**;
# - `MaxPool2d` and `AvgPool2d`, which shrink the image and make the network tolerant to small shifts;
# - `BatchNorm2d`, which keeps every channel's activations at a steady scale so deep CNNs train fast;
# - `Flatten`, the bridge to a `Linear` classifier, and `SimpleCNN`, a complete network for CIFAR-10.
#
# Every layer is differentiable: each is a `Function` from module 05 whose backward pass is written
# next to its forward pass, checked against finite differences.
#
# **The systems view.** A convolution is a lot of arithmetic on very few weights: `Conv2d(32, 64, 3)`
# has 18,496 parameters but on a batch of 128 images of 16x16 it performs 1.2 billion floating-point
# operations. Written as Python loops that takes minutes; written as one matrix multiply it takes a
# few milliseconds, because BLAS runs the multiply at close to the processor's peak. The price is
# memory: im2col copies every input pixel once per kernel position (9 times for a 3x3 kernel). The
# cells below measure all of this on your machine.

# %%
#| default_exp core.spatial

# %%
#| export
import contextlib
import ctypes
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinytorch.core.activations import relu
from tinytorch.core.autograd import Function, is_grad_enabled
from tinytorch.core.layers import Linear, Module, Parameter, kaiming_uniform
from tinytorch.core.tensor import Tensor, as_tensor

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
#| export
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


# %% [markdown]
# ## Convolution as loops: the definition
#
# For an input `x` of shape (N, C, H, W) and weights of shape (OC, C, KH, KW), output channel `o` at
# position (i, j) is the bias plus the sum, over every input channel and kernel offset, of input times
# weight:
#
#     out[n, o, i, j] = bias[o] + sum over c, u, v of  x[n, c, i*S + u, j*S + v] * weight[o, c, u, v]
#
# The function below is that formula and nothing else: seven nested loops, one multiply-add at a time.
# It is the reference the fast version is tested against, and a measurement of how slow Python is at
# arithmetic: every multiply-add costs a few hundred nanoseconds of interpreter work.
#
# (Deep-learning "convolution" is, strictly, cross-correlation: the kernel is not flipped. Nothing is
# lost, since the network learns the kernel either way.)

# %%
#| export
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
    # Hint: loop n, o, i, j over the output; start each total at the bias, then add
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


# %% [markdown]
# ## The fast way: im2col and one matrix multiply
#
# Look at the formula again: for a fixed output pixel, the sum over (c, u, v) is a dot product between
# the window of the input under the kernel and the kernel itself. Lay every window out as one row of a
# matrix `cols` (one row per output pixel, one column per (u, v, c) position of the window), and lay the
# kernels out as the columns of a matrix `W`: then *every* output of the layer is one entry of
# `cols @ W`. That rearrangement is called im2col ("image to columns"), and it turns the convolution
# into the one operation computers are best at.
#
# **Windows without copying.** `numpy.lib.stride_tricks.sliding_window_view` gives a view of every
# window: an array of shape (N, OH, OW, C, KH, KW) whose elements *are* the input's memory, read with
# clever strides, no copy made. A stride S > 1 is a slice `[:, ::S, ::S]` of that view. Only when we
# write the windows into `cols` is anything copied, and we do it in one `np.copyto`.
#
# **Channels last.** We work on the input in (N, H, W, C) order ("channels last"): then the numbers of
# one window row, (v, c) for v in 0..KW-1, sit next to each other in memory, so the copy reads long
# contiguous runs. The matrix product `cols @ W` gives one row per output pixel and one column per
# output channel, (N*OH*OW, OC): that *is* channels-last memory. So the output Tensor keeps that memory
# and only its shape reads (N, OC, OH, OW), PyTorch's order, through a transposed view
# (`array.transpose(0, 3, 1, 2)`, free). PyTorch calls this layout `torch.channels_last`. The next
# convolution, batch norm or pooling layer reads it in channels-last order again, for free, and any
# other operation sees an ordinary (N, C, H, W) array: NumPy follows the strides.
#
# **The memory bill.** `cols` holds KH*KW copies of every input pixel: for a 3x3 kernel, 9 times the
# input. For the second convolution of SimpleCNN on a batch of 128 that is 36 MiB, written and read
# once per step. The next section shows how the layers avoid ever holding it all at once.

# %%
#| export
def _channels_last(x: np.ndarray) -> np.ndarray:
    """A view of x (N, C, H, W) in (N, H, W, C) order; contiguous if x is channels-last in memory."""
    return x.transpose(0, 2, 3, 1)


def _channels_first(x: np.ndarray) -> np.ndarray:
    """The inverse view: (N, H, W, C) -> (N, C, H, W), memory untouched."""
    return x.transpose(0, 3, 1, 2)


def _new_array(name: str, shape: tuple, dtype) -> np.ndarray:
    """A fresh array; the layers pass a worker's `scratch` instead, which reuses its arrays."""
    return np.empty(shape, dtype=dtype)


def _pad_channels_last(x_cl: np.ndarray, padding: tuple, value=0.0, new=_new_array) -> np.ndarray:
    """x_cl (N, H, W, C) copied into the middle of a (N, H + 2PH, W + 2PW, C) array bordered with `value`.

    Without padding, x_cl itself when its memory is already channels-last, else a channels-last copy.
    """
    ph, pw = padding
    if not (ph or pw) and x_cl.flags.c_contiguous:
        return x_cl
    n, h, w, c = x_cl.shape
    padded = new("padded", (n, h + 2 * ph, w + 2 * pw, c), x_cl.dtype)
    padded[:, :ph] = value
    padded[:, h + ph :] = value
    padded[:, ph : h + ph, :pw] = value
    padded[:, ph : h + ph, w + pw :] = value
    padded[:, ph : h + ph, pw : w + pw] = x_cl
    return padded


def im2col(x_cl: np.ndarray, kernel_size: tuple, stride: tuple, padding: tuple, new=_new_array) -> np.ndarray:
    """Every window of x_cl (N, H, W, C) as one row: a (N*OH*OW, KH*KW*C) matrix, columns in (u, v, c) order."""
    kh, kw = kernel_size
    sh, sw = stride
    padded = _pad_channels_last(x_cl, padding, new=new)
    # Hint: sliding_window_view(padded, (kh, kw), axis=(1, 2)) views every window as (N, OH', OW', C, KH, KW);
    # slice [:, ::sh, ::sw] for the stride, then copy it, transposed to (N, OH, OW, KH, KW, C), into
    # cols = new("cols", shape, dtype) with one np.copyto.
    ### BEGIN SOLUTION
    windows = sliding_window_view(padded, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]  # (N, OH, OW, C, KH, KW)
    n, oh, ow, c = windows.shape[:4]
    cols = new("cols", (n, oh, ow, kh, kw, c), x_cl.dtype)
    np.copyto(cols, windows.transpose(0, 1, 2, 4, 5, 3))  # the one copy
    ### END SOLUTION
    return cols.reshape(n * oh * ow, kh * kw * c)


def _weight_matrix(weight: np.ndarray) -> np.ndarray:
    """Kernels (OC, C, KH, KW) as the columns of a (KH*KW*C, OC) matrix, rows in im2col's (u, v, c) order."""
    out_channels = weight.shape[0]
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0)).reshape(-1, out_channels)


# %% [markdown]
# ## Slices of the batch: caches and cores
#
# A processor reads its caches ten times faster than main memory, but they are small: a few MiB.
# The 36 MiB im2col matrix of a whole batch does not fit, so "im2col, then multiply" would write it all
# to main memory and read it all back. Instead the layers walk through the batch a few images at a
# time: im2col of a slice whose matrix is about `CHUNK_BYTES` (2 MiB), multiply, next slice. The
# product is the same; the matrix never leaves the cache. The arrays a slice needs (`scratch`) are
# allocated once and reused for every slice and every step: fresh memory is expensive (the operating
# system hands it out page by page on first touch), reused memory is not.
#
# Slices are independent, so several can run at the same time, one per core. NumPy releases Python's
# global interpreter lock inside its copies, ufuncs and matrix multiplies, so plain Python threads
# really do run in parallel here. The matrix library (BLAS) has threads of its own, and two sets of
# threads on the same cores fight: OpenBLAS's idle threads even keep spinning for a while after each
# multiply, waiting for the next one. So the layers take the cores over: `set_num_threads(n)` (or the
# environment variable `TINYTORCH_NUM_THREADS`) sets how many threads they use, by default one per core
# this process may use (at most 8), and while that is more than one, OpenBLAS runs single-threaded in
# the whole process (asked through its own `openblas_set_num_threads`); `set_num_threads(1)` gives BLAS
# its threads back. Inside the layers every multiply is single-threaded anyway: a slice's multiply is
# too small to share. Where NumPy's BLAS is not OpenBLAS its threads cannot be set from here, and the
# default is 1 thread: set `TINYTORCH_NUM_THREADS` and your BLAS's own variable (such as
# `MKL_NUM_THREADS=1`) before starting Python.

# %%
#| export
CHUNK_BYTES = 2 * 2**20  # the im2col matrix of one slice of the batch: about a core's share of the cache


def _openblas_thread_control() -> list:
    """(get, set) pairs for the thread count of each OpenBLAS library loaded in this process (Linux only)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
    except OSError:
        return []
    controls = []
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""), ("openblas", "64_"), ("openblas", "")):
            get = getattr(library, f"{prefix}_get_num_threads{suffix}", None)
            set_ = getattr(library, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                controls.append((get, set_))
                break
    return controls


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class _Workers:
    """Run a function over slices of a batch on `threads` threads, each thread with its own scratch arrays."""

    def __init__(self, blas_threads: list):
        self.threads = 1
        self._blas_threads = blas_threads  # (get, set) pairs, one per OpenBLAS library; may be empty
        self._blas_own = [get() for get, _ in blas_threads]  # BLAS's own settings, to give back
        self._pool, self._pool_key = None, None
        self._local = threading.local()

    def set_threads(self, threads: int) -> None:
        """Use `threads` threads; with more than one, BLAS runs single-threaded in the whole process."""
        self.threads = threads
        for (_, set_), own in zip(self._blas_threads, self._blas_own):
            set_(1 if threads > 1 else own)

    def scratch(self, name: str, shape: tuple, dtype) -> np.ndarray:
        """An array of this thread, reused by every later call with the same name (contents undefined)."""
        arrays = self._local.__dict__.setdefault("arrays", {})
        size, key = math.prod(shape), (name, np.dtype(dtype))
        buffer = arrays.get(key)
        if buffer is None or buffer.size < size:
            buffer = arrays[key] = np.empty(size, dtype=dtype)
        return buffer[:size].reshape(shape)

    def map(self, work, total: int, per_slice: int) -> list:
        """[work(start, stop) for each slice of range(total)], slices of `per_slice` items, spread over the threads."""
        per_slice = min(per_slice, -(-total // self.threads))  # a small batch still gives every thread a slice
        spans = [(start, min(start + per_slice, total)) for start in range(0, total, per_slice)]
        with self._blas_single_threaded():
            if self.threads == 1 or len(spans) == 1:
                return [work(start, stop) for start, stop in spans]
            threads = self.threads
            shares = [spans[i::threads] for i in range(threads)]  # one task per thread: slices i, i + threads, ...

            def run(share):
                return [work(start, stop) for start, stop in share]

            helpers = [self._executor().submit(run, share) for share in shares[1:]]
            done = [run(shares[0])] + [helper.result() for helper in helpers]  # this thread works too
            results = [None] * len(spans)
            for i, share_results in enumerate(done):
                results[i::threads] = share_results  # back in slice order, so sums add up in the same order
            return results

    def _executor(self) -> ThreadPoolExecutor:
        """The helper threads (one fewer than `threads`: the calling thread takes a share itself)."""
        key = (self.threads, os.getpid())  # a forked child must not wait for its parent's threads
        if self._pool_key != key:
            self._pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="tinytorch")
            self._pool_key = key
        return self._pool

    @contextlib.contextmanager
    def _blas_single_threaded(self):
        """Slices are small: one BLAS thread per multiply, even when this process leaves BLAS several."""
        previous = [get() for get, _ in self._blas_threads]
        for (_, set_), threads in zip(self._blas_threads, previous):
            if threads != 1:
                set_(1)
        try:
            yield
        finally:
            for (_, set_), threads in zip(self._blas_threads, previous):
                if threads != 1:
                    set_(threads)


def _threads_from_environment(blas_threads) -> int:
    value = os.environ.get("TINYTORCH_NUM_THREADS")
    if value is None:
        return min(_available_cores(), 8) if blas_threads else 1
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"TINYTORCH_NUM_THREADS must be a positive whole number, got {value!r}.")
    return int(value)


_BLAS_THREADS = _openblas_thread_control()
_WORKERS = _Workers(_BLAS_THREADS)
_WORKERS.set_threads(_threads_from_environment(_BLAS_THREADS))


def set_num_threads(threads: int) -> None:
    """How many threads the spatial layers use. With more than one, OpenBLAS runs on one thread in the whole
    process, so that the two never compete for cores; set_num_threads(1) gives BLAS its own threads back."""
    if int(threads) < 1:
        raise ValueError(f"set_num_threads needs at least 1 thread, got {threads}.")
    _WORKERS.set_threads(int(threads))


def get_num_threads() -> int:
    return _WORKERS.threads


def _per_slice(bytes_per_item: int) -> int:
    """How many items (images, rows) make a slice of about CHUNK_BYTES; at least one."""
    return max(1, CHUNK_BYTES // max(1, bytes_per_item))


def _ones(count: int, dtype) -> np.ndarray:
    """A vector of ones: `ones @ matrix` sums the rows through BLAS, far faster than matrix.sum(axis=0)."""
    ones = _WORKERS.scratch("ones", (count,), dtype)
    ones.fill(1)
    return ones


# %% [markdown]
# ## The convolution, forward and backward
#
# The forward pass: for each slice of the batch, im2col and one matrix multiply, written straight into
# the output's rows. With `out = cols @ W + b` (one row per output pixel) the gradients are those of a
# Linear layer:
#
# - `dW = cols.T @ dout`: every window times the gradient of the pixel it produced, summed over all
#   pixels. That sum over positions is what weight sharing means for learning: one kernel, updated by
#   every place it was used. The backward pass recomputes each slice's `cols` rather than keeping the
#   whole matrix from the forward pass: copying a slice again costs less than storing 9 copies of the
#   input, and it is in the cache right when the multiply needs it.
# - `db = ones @ dout`: the sum of the output gradient over all pixels (a matrix-vector product, which
#   BLAS does far faster than `dout.sum(axis=0)`).
# - `dcols = dout @ W.T`: the gradient of every *copy* of an input pixel. Each input pixel was copied
#   into KH*KW windows, so its gradient is the sum of those KH*KW entries. We compute `dcols` one kernel
#   offset (u, v) at a time, `dout @ W[:, :, u, v]` (one batched multiply), so that each offset's
#   gradients are one contiguous (pixels, C) block, and add it back with one strided slice:
#   `dx[:, u::S, v::S] += block`. That is KH*KW whole-array additions, never a Python loop over pixels
#   and never `np.add.at`, which is many times slower.
#
# A fact worth knowing: for stride 1 that sum is itself a convolution, of the zero-padded output
# gradient with the kernel flipped in space and its input and output channels swapped (the tests check
# it). Computing it that way needs an im2col of the output gradient, with KH*KW copies of OC channels,
# where the additions above touch KH*KW copies of C channels; channels usually grow through a network
# (OC >= C), and on this course's machines the additions measured faster on every layer we tried.

# %%
#| export
def _offsets(kernel_size: tuple):
    """The offsets (u, v) of a window, in im2col's order."""
    return [(u, v) for u in range(kernel_size[0]) for v in range(kernel_size[1])]


def conv2d_forward(x: np.ndarray, weight: np.ndarray, bias, stride: tuple, padding: tuple) -> np.ndarray:
    """Convolution of x (N, C, H, W) with weight (OC, C, KH, KW): (N, OC, OH, OW) in channels-last memory."""
    n, channels, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    oh = conv_output_size(height, kh, stride[0], padding[0])
    ow = conv_output_size(width, kw, stride[1], padding[1])
    x_cl, w_matrix = _channels_last(x), _weight_matrix(weight)
    out = np.empty((n, oh, ow, out_channels), dtype=x.dtype)
    # The bias is added to a whole output row of an image at a time, OW pixels of OC channels:
    # NumPy's inner loop then runs over OW*OC numbers instead of OC (5x faster for OC = 6).
    bias_row = None if bias is None else np.tile(bias, ow)

    def forward_slice(start, stop):
        # Hint: im2col of x_cl[start:stop] (pass new=_WORKERS.scratch), then multiply those columns by
        # w_matrix straight into rows (np.matmul's out= argument),
        # where rows is out[start:stop] seen as (pixels, OC); add the bias (bias_row, one image row at a time).
        ### BEGIN SOLUTION
        cols = im2col(x_cl[start:stop], (kh, kw), stride, padding, new=_WORKERS.scratch)
        rows = out[start:stop].reshape(-1, out_channels)
        np.matmul(cols, w_matrix, out=rows)
        if bias is not None:
            image_rows = out[start:stop].reshape(-1, ow * out_channels)
            image_rows += bias_row
        ### END SOLUTION

    _WORKERS.map(forward_slice, n, _per_slice(oh * ow * kh * kw * channels * x.itemsize))
    return _channels_first(out)


def conv2d_backward(grad: np.ndarray, x: np.ndarray, weight: np.ndarray, stride: tuple, padding: tuple,
                    need_input_grad: bool = True) -> tuple:
    """Gradients (dx, dweight, dbias) of conv2d_forward, given grad = dL/dout of shape (N, OC, OH, OW)."""
    n, channels, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    (sh, sw), (ph, pw) = stride, padding
    oh, ow = grad.shape[2:]
    x_cl = _channels_last(x)
    dout = np.ascontiguousarray(_channels_last(grad))  # (N, OH, OW, OC); free when grad is channels-last
    w_offsets = np.ascontiguousarray(weight.transpose(2, 3, 0, 1)).reshape(kh * kw, out_channels, channels)
    dx = np.empty((n, height, width, channels), dtype=x.dtype) if need_input_grad else None

    def backward_slice(start, stop):
        count = stop - start
        dout_rows = dout[start:stop].reshape(-1, out_channels)
        # Hint: cols as in the forward pass; the weight gradient is the transposed columns times dout_rows,
        # and the bias gradient sums dout_rows over its rows (a product with a ones vector runs in BLAS).
        # For dx: np.matmul(dout_rows, w_offsets, out=dcols) gives one (pixels, C) block per offset (u, v);
        # add each block, reshaped to (count, OH, OW, C), into a zeroed dx_padded[:, u::sh, v::sw] (cut to
        # OH, OW), then copy the unpadded middle into dx[start:stop] (without padding, add into dx directly).
        ### BEGIN SOLUTION
        cols = im2col(x_cl[start:stop], (kh, kw), stride, padding, new=_WORKERS.scratch)
        dweight = cols.T @ dout_rows
        dbias = _ones(dout_rows.shape[0], dout_rows.dtype) @ dout_rows
        if need_input_grad:
            dcols = _WORKERS.scratch("dcols", (kh * kw, count * oh * ow, channels), x.dtype)
            np.matmul(dout_rows, w_offsets, out=dcols)  # one (pixels, C) block per kernel offset
            padded_shape = (count, height + 2 * ph, width + 2 * pw, channels)
            dx_padded = _WORKERS.scratch("dx_padded", padded_shape, x.dtype) if ph or pw else dx[start:stop]
            dx_padded.fill(0)
            for block, (u, v) in zip(dcols, _offsets((kh, kw))):
                dx_padded[:, u : u + sh * oh : sh, v : v + sw * ow : sw] += block.reshape(count, oh, ow, channels)
            if ph or pw:
                dx[start:stop] = dx_padded[:, ph : ph + height, pw : pw + width]
        ### END SOLUTION
        return dweight, dbias

    partial = _WORKERS.map(backward_slice, n, _per_slice(oh * ow * kh * kw * channels * x.itemsize))
    dweight = sum(p[0] for p in partial).reshape(kh, kw, channels, out_channels).transpose(3, 2, 0, 1)
    dbias = sum(p[1] for p in partial)
    return (None if dx is None else _channels_first(dx)), np.ascontiguousarray(dweight), dbias


class Conv2dFunction(Function):
    """The differentiable convolution: inputs (x, weight) or (x, weight, bias)."""

    def forward(self, x, weight, bias=None, stride=(1, 1), padding=(0, 0)):
        self.save_for_backward(x, weight, stride, padding, bias is not None)
        return conv2d_forward(x, weight, bias, stride, padding)

    def backward(self, grad):
        x, weight, stride, padding, has_bias = self.saved
        need_input_grad = self.parents[0].requires_grad  # the first layer's input (images) needs none
        dx, dweight, dbias = conv2d_backward(grad, x, weight, stride, padding, need_input_grad)
        return (dx, dweight, dbias) if has_bias else (dx, dweight)


# %% [markdown]
# ## The Conv2d layer
#
# The layer owns the weights and checks its input. Its initial weights follow He et al. (2015):
# uniform in +-sqrt(6 / fan_in) with fan_in = C*KH*KW, which keeps the variance of the activations
# steady from layer to layer when each convolution is followed by a ReLU (the ReLU zeroes half the
# signal, so the weights' variance must be twice what it would be without it). The bias starts at zero.
#
# **Weight sharing.** `Conv2d(3, 32, 3)` has 32 x (3 x 3 x 3) + 32 = 896 parameters whatever the image
# size, because the same 32 kernels are used at every position. A Linear layer producing the same
# output from a 32x32 RGB image would need a weight for every (input value, output value) pair:
# 3,072 x 32,768 = 100 million. The weight-sharing cell in "The systems view, measured" computes both.

# %%
#| export
class Conv2d(Module):
    """2-D convolution over (N, C, H, W) input, PyTorch's Conv2d: weight (OC, C, KH, KW), bias (OC,).

    >>> conv = Conv2d(3, 8, kernel_size=3, padding=1)
    >>> conv(Tensor(np.zeros((2, 3, 16, 16)))).shape
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
# **Vectorised, one offset at a time.** A window of K x K has K*K offsets (u, v); the values at offset
# (u, v) of *all* windows form one strided slice of the input, `x[:, :, u::S, v::S]` (cut to the output
# size). So pooling is K*K whole-array operations: for 2x2 pooling, four. The forward pass remembers
# which offset won each window (an index of one byte per output), and the backward pass sends each
# gradient back to the winner's position. When several values of a window tie for the maximum, the
# first one wins, as in PyTorch. Working on strided slices also means pooling never cares how its
# input is laid out in memory: channels-last input gives channels-last output.

# %%
#| export
def _pool_output_shape(x_shape, kernel_size, stride, padding) -> tuple:
    n, c, height, width = x_shape
    oh = conv_output_size(height, kernel_size[0], stride[0], padding[0])
    ow = conv_output_size(width, kernel_size[1], stride[1], padding[1])
    return n, c, oh, ow


def _window_values(x_cl: np.ndarray, offset: tuple, stride: tuple, out_size: tuple) -> np.ndarray:
    """The value at offset (u, v) of every window: one strided slice of x_cl (N, H, W, C)."""
    (u, v), (sh, sw), (oh, ow) = offset, stride, out_size
    return x_cl[:, u : u + sh * oh : sh, v : v + sw * ow : sw]


def maxpool2d_forward(x: np.ndarray, kernel_size: tuple, stride: tuple, padding: tuple, winners: bool = True) -> tuple:
    """(out, winner): the maximum of every window, and which offset of the window held it (first on ties).

    With winners=False (no gradient will be needed) only the maxima are computed, and winner is None.
    """
    n, c, oh, ow = _pool_output_shape(x.shape, kernel_size, stride, padding)
    x_cl = _channels_last(x)
    out = np.empty((n, oh, ow, c), dtype=x.dtype)
    index_type = np.uint8 if kernel_size[0] * kernel_size[1] <= 256 else np.int32
    winner = np.empty((n, oh, ow, c), dtype=index_type) if winners else None

    def forward_slice(start, stop):
        padded = _pad_channels_last(x_cl[start:stop], padding, -np.inf, _WORKERS.scratch) if any(padding) else x_cl[start:stop]
        best = out[start:stop]
        best_offset = winner[start:stop] if winners else None
        better = _WORKERS.scratch("better", best.shape, bool)
        # Hint: for each offset, read every window's value there with _window_values. Start from the first
        # offset; for later ones np.maximum into best, and (when winners) mark where values > best first:
        # offsets come in increasing order, so the winner's index is the largest index that ever won.
        ### BEGIN SOLUTION
        for index, offset in enumerate(_offsets(kernel_size)):
            values = _window_values(padded, offset, stride, (oh, ow))
            if index == 0:
                best[...] = values
                if winners:
                    best_offset[...] = 0
                continue
            if winners:
                np.greater(values, best, out=better)  # strictly greater: on a tie the earlier offset keeps the win
                np.maximum(best_offset, better * index_type(index), out=best_offset)  # later offsets, larger indices
            np.maximum(best, values, out=best)
        ### END SOLUTION

    _WORKERS.map(forward_slice, n, _per_slice(oh * ow * c * x.itemsize * 4))
    return _channels_first(out), (_channels_first(winner) if winners else None)


def _gradient_windows(dx: np.ndarray, start: int, stop: int, kernel_size: tuple, stride: tuple, padding: tuple,
                      out_size: tuple):
    """Where a pooling layer's backward pass writes the gradient of slice [start, stop) of dx (N, H, W, C).

    Returns (target, write): `target` is dx's slice itself or, with padding, a zeroed padded scratch
    array; `write`, called with an offset and a share, puts the share at that offset of every window. Non-overlapping windows
    (stride = kernel, the usual 2x2 pool) own their input positions alone, so the share is written
    straight in; overlapping windows add theirs up.
    """
    (ph, pw), (oh, ow) = padding, out_size
    count, height, width, channels = stop - start, dx.shape[1], dx.shape[2], dx.shape[3]
    tiled = tuple(stride) == tuple(kernel_size) and not any(padding)
    if any(padding):
        target = _WORKERS.scratch("dx_padded", (count, height + 2 * ph, width + 2 * pw, channels), dx.dtype)
    else:
        target = dx[start:stop]
    if not tiled or oh * stride[0] < height or ow * stride[1] < width:
        target.fill(0)  # positions that no window (or not only one window) covers

    def write(offset, gradient_share):
        window = _window_values(target, offset, stride, out_size)
        if tiled:
            window[...] = gradient_share
        else:
            window += gradient_share

    return target, write


def maxpool2d_backward(grad: np.ndarray, winner: np.ndarray, x_shape: tuple, kernel_size: tuple, stride: tuple,
                       padding: tuple) -> np.ndarray:
    """Each output's gradient goes back to the input position that won its window."""
    n, c, height, width = x_shape
    (ph, pw), (oh, ow) = padding, grad.shape[2:]
    grad_cl, winner_cl = _channels_last(grad), _channels_last(winner)
    dx = np.empty((n, height, width, c), dtype=grad.dtype)

    def backward_slice(start, stop):
        target, write = _gradient_windows(dx, start, stop, kernel_size, stride, padding, (oh, ow))
        won = _WORKERS.scratch("won", (stop - start, oh, ow, c), bool)
        share = _WORKERS.scratch("share", (stop - start, oh, ow, c), grad.dtype)
        # Hint: for each offset index, mark where the winner is that index (into won), multiply the gradient
        # by that mask (into share), and hand the share to write() for that offset.
        ### BEGIN SOLUTION
        for index, offset in enumerate(_offsets(kernel_size)):
            np.equal(winner_cl[start:stop], index, out=won)
            np.multiply(grad_cl[start:stop], won, out=share)
            write(offset, share)
        ### END SOLUTION
        if any(padding):
            dx[start:stop] = target[:, ph : ph + height, pw : pw + width]

    _WORKERS.map(backward_slice, n, _per_slice(height * width * c * grad.itemsize))
    return _channels_first(dx)


def avgpool2d_forward(x: np.ndarray, kernel_size: tuple, stride: tuple, padding: tuple) -> np.ndarray:
    """The mean of every window; padding zeros count in the mean, as in PyTorch's default."""
    n, c, oh, ow = _pool_output_shape(x.shape, kernel_size, stride, padding)
    x_cl = _channels_last(x)
    out = np.empty((n, oh, ow, c), dtype=x.dtype)
    scale = x.dtype.type(1.0 / (kernel_size[0] * kernel_size[1]))

    def forward_slice(start, stop):
        padded = _pad_channels_last(x_cl[start:stop], padding, 0.0, _WORKERS.scratch) if any(padding) else x_cl[start:stop]
        total = out[start:stop]
        # Hint: total = the first offset's values, += every other offset's values, then *= scale.
        ### BEGIN SOLUTION
        for index, offset in enumerate(_offsets(kernel_size)):
            values = _window_values(padded, offset, stride, (oh, ow))
            if index == 0:
                total[...] = values
            else:
                total += values
        total *= scale
        ### END SOLUTION

    _WORKERS.map(forward_slice, n, _per_slice(oh * ow * c * x.itemsize * 4))
    return _channels_first(out)


def avgpool2d_backward(grad: np.ndarray, x_shape: tuple, kernel_size: tuple, stride: tuple, padding: tuple) -> np.ndarray:
    """Every position of a window receives an equal share of the window's gradient."""
    n, c, height, width = x_shape
    (ph, pw), (oh, ow) = padding, grad.shape[2:]
    grad_cl = _channels_last(grad)
    dx = np.empty((n, height, width, c), dtype=grad.dtype)
    scale = grad.dtype.type(1.0 / (kernel_size[0] * kernel_size[1]))

    def backward_slice(start, stop):
        target, write = _gradient_windows(dx, start, stop, kernel_size, stride, padding, (oh, ow))
        share = _WORKERS.scratch("share", (stop - start, oh, ow, c), grad.dtype)
        # Hint: every offset of every window receives grad * scale: compute it once, write it at each offset.
        ### BEGIN SOLUTION
        np.multiply(grad_cl[start:stop], scale, out=share)
        for offset in _offsets(kernel_size):
            write(offset, share)
        ### END SOLUTION
        if any(padding):
            dx[start:stop] = target[:, ph : ph + height, pw : pw + width]

    _WORKERS.map(backward_slice, n, _per_slice(height * width * c * grad.itemsize))
    return _channels_first(dx)


class MaxPool2dFunction(Function):
    def forward(self, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), winners=True):
        out, winner = maxpool2d_forward(x, kernel_size, stride, padding, winners)
        self.save_for_backward(winner, x.shape, kernel_size, stride, padding)
        return out

    def backward(self, grad):
        winner, x_shape, kernel_size, stride, padding = self.saved
        return (maxpool2d_backward(grad, winner, x_shape, kernel_size, stride, padding),)


class AvgPool2dFunction(Function):
    def forward(self, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)):
        self.save_for_backward(x.shape, kernel_size, stride, padding)
        return avgpool2d_forward(x, kernel_size, stride, padding)

    def backward(self, grad):
        x_shape, kernel_size, stride, padding = self.saved
        return (avgpool2d_backward(grad, x_shape, kernel_size, stride, padding),)


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
        _pool_output_shape(x.shape, self.kernel_size, self.stride, self.padding)  # raises if it does not fit
        return self.function.apply(x, kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                                   **self._options(x))

    def _options(self, x) -> dict:
        return {}

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The maximum of each window: (N, C, H, W) -> (N, C, OH, OW). stride defaults to kernel_size."""

    function = MaxPool2dFunction

    def _options(self, x) -> dict:
        return {"winners": is_grad_enabled() and x.requires_grad}  # evaluation skips recording the winners


class AvgPool2d(_Pool2d):
    """The mean of each window (padding zeros included): (N, C, H, W) -> (N, C, OH, OW)."""

    function = AvgPool2dFunction


# %% [markdown]
# ## BatchNorm2d: a steady scale for every channel
#
# As a network trains, every layer's weights change, so the distribution of the numbers each layer
# receives keeps shifting; in a deep stack, scales compound, and the learning rate that suits one layer
# is too large or too small for another. Batch normalisation (Ioffe and Szegedy, 2015) fixes the scale
# by construction: for each channel it subtracts the batch mean and divides by the batch standard
# deviation (over the N, H and W positions), then applies a learned scale `gamma` and shift `beta`:
#
#     y = gamma * (x - mean) / sqrt(var + eps) + beta
#
# In practice this lets CNNs train with much larger learning rates and reach a given accuracy in a
# fraction of the epochs (on CIFAR-10 the course's measurements went from 7 epochs to 3 for 75%).
#
# **Train and eval.** While training, the statistics come from the batch, and the layer keeps an
# exponential running average of them (`running_mean`, `running_var`, buffers saved in the state_dict,
# updated as `running = (1 - momentum) * running + momentum * batch`, with the unbiased variance as
# in PyTorch). In evaluation the running statistics are used instead, so a prediction for one image
# does not depend on which other images share its batch.
#
# **One fused operation.** Written with Tensor operations, batch norm would be a dozen graph nodes,
# each with its own temporary arrays. As one Function it is a few passes over the data. With
# `a = gamma / sqrt(var + eps)` the forward pass is `y = x * a + (beta - mean * a)`, and the backward
# pass, after the chain rule through the mean and the variance, collapses to the same shape:
#
#     dx = dy * a + x * b + c,  per channel:  b = -a * dgamma / (M * std),  c = -a * dbeta / M - mean * b
#
# where M is the number of values per channel (N*H*W), dbeta = sum(dy), dgamma = sum(dy * xhat) and
# std = sqrt(var + eps). The per-channel sums are matrix-vector products with a vector of ones.

# %%
#| export
def _rows_channels(x: np.ndarray) -> np.ndarray:
    """x (N, C, H, W) as an (N*H*W, C) matrix: free for channels-last memory, one copy otherwise."""
    x_cl = _channels_last(x)
    if not x_cl.flags.c_contiguous:
        x_cl = np.ascontiguousarray(x_cl)
    return x_cl.reshape(-1, x.shape[1])


def _row_slices(rows: np.ndarray) -> int:
    """Rows per slice for the (M, C) matrices of batch norm."""
    return _per_slice(rows.shape[1] * rows.itemsize * 4)


def batch_statistics(x: np.ndarray) -> tuple:
    """Mean and (biased) variance of every channel of x (N, C, H, W), over the N, H and W positions."""
    rows = _rows_channels(x)
    count = rows.shape[0]

    def sums(start, stop):
        return _ones(stop - start, x.dtype) @ rows[start:stop]

    mean = sum(_WORKERS.map(sums, count, _row_slices(rows))) / count

    def squared_deviations(start, stop):
        centred = _WORKERS.scratch("centred", (stop - start, rows.shape[1]), x.dtype)
        np.subtract(rows[start:stop], mean, out=centred)
        np.multiply(centred, centred, out=centred)
        return _ones(stop - start, x.dtype) @ centred

    return mean, sum(_WORKERS.map(squared_deviations, count, _row_slices(rows))) / count


class BatchNorm2dFunction(Function):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta with per-channel statistics given by the layer.

    training=True: mean and var are this batch's statistics, and the gradient flows through them.
    training=False: they are constants (the running statistics).
    """

    def forward(self, x, gamma, beta, mean=None, var=None, eps=1e-5, training=True):
        inv_std = 1.0 / np.sqrt(var + eps)
        a = gamma * inv_std
        shift = beta - mean * a
        rows = _rows_channels(x)
        out = np.empty_like(rows)

        def forward_slice(start, stop):
            # Hint: out = x * a + shift, row slice by row slice, in place (np.multiply with out=, then +=).
            ### BEGIN SOLUTION
            np.multiply(rows[start:stop], a, out=out[start:stop])
            out[start:stop] += shift
            ### END SOLUTION

        _WORKERS.map(forward_slice, rows.shape[0], _row_slices(rows))
        self.save_for_backward(rows, x.shape, gamma, mean, inv_std, training)
        return _channels_first(out.reshape(x.shape[0], x.shape[2], x.shape[3], x.shape[1]))

    def backward(self, grad):
        rows, x_shape, gamma, mean, inv_std, training = self.saved
        dy = _rows_channels(grad)
        count = rows.shape[0]

        def sums(start, stop):
            ones = _ones(stop - start, dy.dtype)
            product = _WORKERS.scratch("product", (stop - start, dy.shape[1]), dy.dtype)
            np.multiply(dy[start:stop], rows[start:stop], out=product)
            return ones @ dy[start:stop], ones @ product

        partial = _WORKERS.map(sums, count, _row_slices(rows))
        dbeta = sum(p[0] for p in partial)
        dgamma = (sum(p[1] for p in partial) - mean * dbeta) * inv_std  # sum(dy * xhat)
        # Hint: with M values per channel, b = -a * inv_std * dgamma / M and c = -a * dbeta / M - mean * b
        # in training; in evaluation the statistics are constants and only dy * a remains (b = c = 0).
        ### BEGIN SOLUTION
        a = gamma * inv_std
        b = -a * inv_std * dgamma / count if training else np.zeros_like(a)
        c = -a * dbeta / count - mean * b if training else np.zeros_like(a)
        ### END SOLUTION
        dx = np.empty_like(dy)

        def dx_slice(start, stop):  # dx = dy * a + x * b + c
            product = _WORKERS.scratch("product", (stop - start, dy.shape[1]), dy.dtype)
            np.multiply(dy[start:stop], a, out=dx[start:stop])
            if training:
                np.multiply(rows[start:stop], b, out=product)
                dx[start:stop] += product
                dx[start:stop] += c

        _WORKERS.map(dx_slice, count, _row_slices(rows))
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
            # Hint: this batch's mean and variance come from batch_statistics; running = (1 - momentum) * running + momentum * batch,
            # with the variance made unbiased (times M / (M - 1)) for the running estimate, as PyTorch does.
            ### BEGIN SOLUTION
            mean, var = batch_statistics(x.data)
            keep = 1.0 - self.momentum
            unbiased = var * (count / (count - 1))
            self.running_mean.data[...] = keep * self.running_mean.data + self.momentum * mean
            self.running_var.data[...] = keep * self.running_var.data + self.momentum * unbiased
            ### END SOLUTION
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
#| export
class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...), keeping the graph (it is a Tensor reshape)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x):
        return as_tensor(x).flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


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
#| export
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


def conv_flops(layer: Conv2d, input_size, batch: int = 1) -> int:
    """Floating-point operations of one forward pass of `layer` on `batch` images of size (H, W)."""
    height, width = _pair(input_size, "input_size")
    oh = conv_output_size(height, layer.kernel_size[0], layer.stride[0], layer.padding[0])
    ow = conv_output_size(width, layer.kernel_size[1], layer.stride[1], layer.padding[1])
    multiply_adds = batch * layer.out_channels * oh * ow * layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1]
    return 2 * multiply_adds


# %% [markdown]
# ## The systems view, measured
#
# The cells below compute every number from the layers on your machine. First the speed of the
# definition against the speed of im2col + one matrix multiply, on the same convolution; the loops
# only run on a slice of the batch (they would take minutes on all of it), scaled up.

# %%
def compare_loops_and_vectorised(batch: int = 32, channels: int = 3, size: int = 32, out_channels: int = 32) -> dict:
    """Time conv2d_loops against conv2d_forward on one layer, and print the ratio."""
    import time

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, channels, size, size)).astype(np.float32)
    weight = rng.standard_normal((out_channels, channels, 3, 3)).astype(np.float32)
    slice_images, slice_channels = 1, 4
    start = time.perf_counter()
    conv2d_loops(x[:slice_images], weight[:slice_channels], padding=1)
    loops = (time.perf_counter() - start) * (batch / slice_images) * (out_channels / slice_channels)
    conv2d_forward(x, weight, None, (1, 1), (1, 1))  # warm up
    repeats = 10
    start = time.perf_counter()
    for _ in range(repeats):
        conv2d_forward(x, weight, None, (1, 1), (1, 1))
    fast = (time.perf_counter() - start) / repeats
    multiply_adds = batch * out_channels * size * size * channels * 9
    print(
        f"conv {batch}x{channels}x{size}x{size} -> {out_channels}, 3x3: loops {loops:.1f} s "
        f"({loops / multiply_adds * 1e9:.0f} ns per multiply-add), im2col + matmul {fast * 1e3:.2f} ms: "
        f"{loops / fast:,.0f}x faster"
    )
    return {"loops_s": loops, "vectorised_s": fast, "speedup": loops / fast}


if __name__ == "__main__":
    compare_loops_and_vectorised()

# %% [markdown]
# Now the same comparison for max pooling. Convolution does about 2 x OC x KH x KW arithmetic
# operations for every number it reads (576 in the layer above: each input value meets all 32
# kernels at 9 offsets), so once it runs as one matrix multiply the processor's arithmetic is the
# limit, and the gap to the loops is thousands of times. Pooling does about one comparison per
# number it reads: the vectorised version is limited by how fast its input streams through the
# cache, not by arithmetic, while each loop step still costs hundreds of nanoseconds of Python. So
# the gap is far smaller. The cell prints the loops' cost per comparison, the pooling forward's
# speed in GB/s of input read, and for scale a plain copy of the same input, which reads every
# number once and writes it once: no pooling code can be much faster.

# %%
def compare_pooling_loops_and_vectorised(batch: int = 32, channels: int = 32, size: int = 32) -> dict:
    """Time maxpool2d_loops against maxpool2d_forward (2x2), next to a copy of the same input."""
    import time

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, channels, size, size)).astype(np.float32)
    x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # channels-last, as a conv leaves it
    slice_channels = 4

    def best_of(function, repeats):
        function()  # warm up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return min(times)

    loops = best_of(lambda: maxpool2d_loops(x[:1, :slice_channels], 2), 3) * batch * channels / slice_channels
    fast = best_of(lambda: maxpool2d_forward(x, (2, 2), (2, 2), (0, 0), winners=False), 20)
    copy = best_of(lambda: x.copy(order="K"), 20)
    comparisons = batch * channels * (size // 2) ** 2 * 3  # three comparisons pick the largest of four
    print(
        f"maxpool 2x2 on {batch}x{channels}x{size}x{size}: loops {loops:.2f} s "
        f"({loops / comparisons * 1e9:.0f} ns per comparison), vectorised {fast * 1e3:.2f} ms "
        f"({x.nbytes / fast / 1e9:.0f} GB/s of input): {loops / fast:,.0f}x faster; "
        f"copying the input takes {copy * 1e3:.2f} ms"
    )
    return {"loops_s": loops, "vectorised_s": fast, "copy_s": copy, "speedup": loops / fast}


if __name__ == "__main__":
    compare_pooling_loops_and_vectorised()

# %% [markdown]
# The im2col matrix's memory, for each convolution of SimpleCNN on a batch of 128, against the memory
# of the layer's input. The factor is KH*KW (here 9): speed bought with memory. The layers never hold
# all of it: they build it a slice of the batch at a time (see "Slices of the batch").

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
    im2col_memory()

# %% [markdown]
# Weight sharing, counted: a convolution against a dense layer doing the same job on a 32x32 RGB image.

# %%
def weight_sharing(size: int = 32) -> tuple:
    conv = Conv2d(3, 32, kernel_size=3, padding=1)
    conv_params = count_parameters(conv)
    inputs, outputs = 3 * size * size, 32 * size * size
    dense_params = inputs * outputs + outputs
    print(f"Conv2d(3, 32, 3): {conv_params:,} parameters; a dense layer {inputs:,} -> {outputs:,}: "
          f"{dense_params:,} ({dense_params / conv_params:,.0f}x more)")
    return conv_params, dense_params


if __name__ == "__main__":
    weight_sharing()

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
    receptive_field_table()

# %% [markdown]
# Where SimpleCNN's parameters and arithmetic are: the convolutions hold few parameters but do almost
# all the work; the Linear layer is the opposite.

# %%
def simple_cnn_budget(batch: int = 1) -> None:
    model = SimpleCNN()
    flops1 = conv_flops(model.conv1, 32, batch)
    flops2 = conv_flops(model.conv2, 16, batch)
    flops_fc = 2 * batch * model.fc.in_features * model.fc.out_features
    for name, layer, flops in (("conv1", model.conv1, flops1), ("conv2", model.conv2, flops2), ("fc", model.fc, flops_fc)):
        print(f"{name}: {count_parameters(layer):>7,} parameters, {flops / 1e6:6.1f} MFLOPs per image")
    print(f"total: {count_parameters(model):,} parameters, {(flops1 + flops2 + flops_fc) / 1e6:.1f} MFLOPs per image")


if __name__ == "__main__":
    simple_cnn_budget()

# %% [markdown]
# Max against average pooling on one small picture: max keeps the bright pixel, average dilutes it.

# %%
def max_vs_average() -> None:
    picture = np.zeros((1, 1, 4, 4), dtype=np.float32)
    picture[0, 0, 0, 1] = 8.0
    picture[0, 0, 3, 3] = 4.0
    print("max pooling 2x2:", MaxPool2d(2)(Tensor(picture)).data[0, 0].tolist())
    print("avg pooling 2x2:", AvgPool2d(2)(Tensor(picture)).data[0, 0].tolist())


if __name__ == "__main__":
    max_vs_average()

# %% [markdown]
# Why BatchNorm helps, in one experiment: push a batch through a stack of convolutions with slightly
# too large random weights and watch the activations' scale compound layer after layer. With a
# BatchNorm2d after each convolution it stays put at 0.58, the standard deviation of max(z, 0) for a
# standard normal z, however deep the stack.

# %%
def activation_scale(depth: int = 8, gain: float = 1.5) -> None:
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((16, 16, 8, 8)))
    plain, normed = x, x
    for layer in range(depth):
        conv = Conv2d(16, 16, 3, padding=1)
        conv.weight.data *= gain
        plain, normed = relu(conv(plain)), relu(BatchNorm2d(16)(conv(normed)))
        print(f"after conv {layer + 1}: std without BatchNorm {plain.data.std():10.3f}, with {normed.data.std():.3f}")


if __name__ == "__main__":
    activation_scale()

# %% [markdown]
# ## Unit tests

# %%
def test_unit_output_size():
    assert conv_output_size(32, 3, 1, 1) == 32, "3x3 with padding 1 keeps the size"
    assert conv_output_size(32, 2, 2, 0) == 16, "a 2x2 pool with stride 2 halves it"
    assert conv_output_size(28, 5) == 24 and conv_output_size(7, 3, 2, 1) == 4
    conv = Conv2d(3, 8, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2))
    out = conv(Tensor(np.zeros((2, 3, 9, 7))))
    assert out.shape == (2, 8, conv_output_size(9, 3, 2, 1), conv_output_size(7, 5, 1, 2)) == (2, 8, 5, 7)
    print("output size: (H + 2P - K) // S + 1 for square and non-square kernels, strides and paddings")


def test_unit_loops_match_vectorised():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    weight, bias = rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    for stride, padding in (((1, 1), (0, 0)), ((2, 1), (1, 1)), ((2, 2), (2, 1))):
        fast = conv2d_forward(x, weight, bias, stride, padding)
        slow = conv2d_loops(x, weight, bias, stride, padding)
        assert np.allclose(fast, slow, atol=1e-10)
    pooled, _ = maxpool2d_forward(x, (3, 3), (2, 2), (1, 1))
    assert np.array_equal(pooled, maxpool2d_loops(x, 3, 2, 1))
    print("im2col + matmul equals the seven loops; strided max pooling equals the loop version")


def test_unit_weight_sharing():
    conv = Conv2d(1, 1, kernel_size=3, padding=1, bias=False)
    image = np.zeros((1, 1, 9, 9), dtype=np.float32)
    image[0, 0, 3, 3] = 1.0
    response = conv(Tensor(image)).data[0, 0]
    shifted = conv(Tensor(np.roll(image, (2, 1), axis=(2, 3)))).data[0, 0]
    assert np.allclose(np.roll(response, (2, 1), axis=(0, 1)), shifted), "same kernel at every position"
    assert np.allclose(response[2:5, 2:5], conv.weight.data[0, 0, ::-1, ::-1]), "an impulse draws the kernel"
    assert count_parameters(Conv2d(3, 32, 3)) == 896
    print("weight sharing: a shifted impulse gives the shifted response; Conv2d(3, 32, 3) has 896 parameters")


def test_unit_pooling_values():
    x = Tensor(np.array([[1, 2, 5, 0], [3, 4, 1, 1], [0, 0, 7, 7], [0, 1, 7, 7]], dtype=np.float32).reshape(1, 1, 4, 4))
    assert MaxPool2d(2)(x).data[0, 0].tolist() == [[4, 5], [1, 7]]
    assert AvgPool2d(2)(x).data[0, 0].tolist() == [[2.5, 1.75], [0.25, 7.0]]
    x.requires_grad = True
    MaxPool2d(2)(x).sum().backward()
    assert x.grad.data[0, 0, 2:, 2:].tolist() == [[1, 0], [0, 0]], "a tie sends the gradient to the first maximum"
    print("pooling: max and average of each 2x2 window; on a tie the first maximum takes the gradient")


def test_unit_batchnorm_modes():
    rng = np.random.default_rng(0)
    bn = BatchNorm2d(3)
    x = Tensor(rng.standard_normal((8, 3, 4, 4)) * 5 + 2)
    y = bn(x).data
    assert np.allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5) and np.allclose(y.std(axis=(0, 2, 3)), 1, atol=1e-3)
    assert np.allclose(bn.running_mean.data, 0.1 * x.data.mean(axis=(0, 2, 3)), atol=1e-5)
    bn.eval()
    z = bn(x).data
    expected = (x.data - bn.running_mean.data.reshape(1, 3, 1, 1)) / np.sqrt(bn.running_var.data.reshape(1, 3, 1, 1) + 1e-5)
    assert np.allclose(z, expected, atol=1e-5)
    print("BatchNorm2d: training normalises each channel to mean 0, std 1 and updates running stats; eval uses them")


def test_unit_simple_cnn():
    model = SimpleCNN()
    assert count_parameters(model) == 896 + 18_496 + 40_970
    logits = model(Tensor(np.random.default_rng(0).standard_normal((4, 3, 32, 32))))
    assert logits.shape == (4, 10)
    logits.sum().backward()
    assert all(p.grad is not None and np.abs(p.grad.data).sum() > 0 for p in model.parameters())
    print("SimpleCNN: (4, 3, 32, 32) -> (4, 10), 60,362 parameters, and every one receives a gradient")


if __name__ == "__main__":
    for test in (
        test_unit_output_size,
        test_unit_loops_match_vectorised,
        test_unit_weight_sharing,
        test_unit_pooling_values,
        test_unit_batchnorm_modes,
        test_unit_simple_cnn,
    ):
        test()
    print("Module 09: all inline tests passed.")
