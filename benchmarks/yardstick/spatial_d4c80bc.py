# The spatial layers as they were at commit d4c80bc (before module 09 became a textbook chapter),
# frozen here as the yardstick benchmarks/spatial.py measures today's layers against. Not part of
# the package, not shipped to students, never edited.
"""Spatial (convolutional networks): the package half of course module 09_spatial."""

__all__ = [
    "conv_output_size",
    "conv2d_loops",
    "maxpool2d_loops",
    "im2col",
    "CHUNK_BYTES",
    "set_num_threads",
    "get_num_threads",
    "conv2d_forward",
    "conv2d_backward",
    "Conv2dFunction",
    "Conv2d",
    "maxpool2d_forward",
    "maxpool2d_backward",
    "avgpool2d_forward",
    "avgpool2d_backward",
    "MaxPool2dFunction",
    "AvgPool2dFunction",
    "MaxPool2d",
    "AvgPool2d",
    "batch_statistics",
    "BatchNorm2dFunction",
    "BatchNorm2d",
    "Flatten",
    "SimpleCNN",
    "count_parameters",
    "receptive_field",
    "conv_flops",
]

import contextlib
import ctypes
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinytorch import as_tensor, is_grad_enabled
from tinytorch.autograd import Function
from tinytorch.nn import Linear, Module, Parameter
from tinytorch.nn.functional import relu
from tinytorch.nn.init import kaiming_uniform


def _pair(value, name: str) -> tuple:
    """3 -> (3, 3); (3, 5) stays (3, 5). Sizes are given for height and width, or once for both."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints (height, width), got {value!r}.")
    return int(pair[0]), int(pair[1])


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """How many positions a kernel takes along one axis: (size + 2*padding - kernel_size) // stride + 1."""
    positions = (size + 2 * padding - kernel_size) // stride + 1
    if positions < 1:
        raise ValueError(
            f"a kernel of size {kernel_size} does not fit an input of size {size} with padding {padding}: "
            "use a larger input, more padding or a smaller kernel."
        )
    return positions


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
    return out


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
    windows = sliding_window_view(padded, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]  # (N, OH, OW, C, KH, KW)
    n, oh, ow, c = windows.shape[:4]
    cols = new("cols", (n, oh, ow, kh, kw, c), x_cl.dtype)
    np.copyto(cols, windows.transpose(0, 1, 2, 4, 5, 3))  # the one copy
    return cols.reshape(n * oh * ow, kh * kw * c)


def _weight_matrix(weight: np.ndarray) -> np.ndarray:
    """Kernels (OC, C, KH, KW) as the columns of a (KH*KW*C, OC) matrix, rows in im2col's (u, v, c) order."""
    out_channels = weight.shape[0]
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0)).reshape(-1, out_channels)


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
        for prefix, suffix in (
            ("scipy_openblas", "64_"),
            ("scipy_openblas", ""),
            ("openblas", "64_"),
            ("openblas", ""),
        ):
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
        cols = im2col(x_cl[start:stop], (kh, kw), stride, padding, new=_WORKERS.scratch)
        rows = out[start:stop].reshape(-1, out_channels)
        np.matmul(cols, w_matrix, out=rows)
        if bias is not None:
            image_rows = out[start:stop].reshape(-1, ow * out_channels)
            image_rows += bias_row

    _WORKERS.map(forward_slice, n, _per_slice(oh * ow * kh * kw * channels * x.itemsize))
    return _channels_first(out)


def conv2d_backward(
    grad: np.ndarray, x: np.ndarray, weight: np.ndarray, stride: tuple, padding: tuple, need_input_grad: bool = True
) -> tuple:
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
                + (
                    "add a batch dimension (x.reshape(1, *x.shape))."
                    if x.ndim == 3
                    else "check the previous layer's out_channels."
                )
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
        padded = (
            _pad_channels_last(x_cl[start:stop], padding, -np.inf, _WORKERS.scratch)
            if any(padding)
            else x_cl[start:stop]
        )
        best = out[start:stop]
        best_offset = winner[start:stop] if winners else None
        better = _WORKERS.scratch("better", best.shape, bool)
        # Hint: for each offset, read every window's value there with _window_values. Start from the first
        # offset; for later ones np.maximum into best, and (when winners) mark where values > best first:
        # offsets come in increasing order, so the winner's index is the largest index that ever won.
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

    _WORKERS.map(forward_slice, n, _per_slice(oh * ow * c * x.itemsize * 4))
    return _channels_first(out), (_channels_first(winner) if winners else None)


def _gradient_windows(
    dx: np.ndarray, start: int, stop: int, kernel_size: tuple, stride: tuple, padding: tuple, out_size: tuple
):
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


def maxpool2d_backward(
    grad: np.ndarray, winner: np.ndarray, x_shape: tuple, kernel_size: tuple, stride: tuple, padding: tuple
) -> np.ndarray:
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
        for index, offset in enumerate(_offsets(kernel_size)):
            np.equal(winner_cl[start:stop], index, out=won)
            np.multiply(grad_cl[start:stop], won, out=share)
            write(offset, share)
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
        padded = (
            _pad_channels_last(x_cl[start:stop], padding, 0.0, _WORKERS.scratch) if any(padding) else x_cl[start:stop]
        )
        total = out[start:stop]
        # Hint: total = the first offset's values, += every other offset's values, then *= scale.
        for index, offset in enumerate(_offsets(kernel_size)):
            values = _window_values(padded, offset, stride, (oh, ow))
            if index == 0:
                total[...] = values
            else:
                total += values
        total *= scale

    _WORKERS.map(forward_slice, n, _per_slice(oh * ow * c * x.itemsize * 4))
    return _channels_first(out)


def avgpool2d_backward(
    grad: np.ndarray, x_shape: tuple, kernel_size: tuple, stride: tuple, padding: tuple
) -> np.ndarray:
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
        np.multiply(grad_cl[start:stop], scale, out=share)
        for offset in _offsets(kernel_size):
            write(offset, share)
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
        return self.function.apply(
            x, kernel_size=self.kernel_size, stride=self.stride, padding=self.padding, **self._options(x)
        )

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
            np.multiply(rows[start:stop], a, out=out[start:stop])
            out[start:stop] += shift

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
        a = gamma * inv_std
        b = -a * inv_std * dgamma / count if training else np.zeros_like(a)
        c = -a * dbeta / count - mean * b if training else np.zeros_like(a)
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
            mean, var = batch_statistics(x.data)
            keep = 1.0 - self.momentum
            unbiased = var * (count / (count - 1))
            self.running_mean.data[...] = keep * self.running_mean.data + self.momentum * mean
            self.running_var.data[...] = keep * self.running_var.data + self.momentum * unbiased
        else:
            mean, var = self.running_mean.data.astype(dtype), self.running_var.data.astype(dtype)
        return BatchNorm2dFunction.apply(
            x, self.weight, self.bias, mean=mean, var=var, eps=dtype.type(self.eps), training=self.training
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


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
        field += (kernel - 1) * jump
        jump *= stride
    return field


def conv_flops(layer: Conv2d, input_size, batch: int = 1) -> int:
    """Floating-point operations of one forward pass of `layer` on `batch` images of size (H, W)."""
    height, width = _pair(input_size, "input_size")
    oh = conv_output_size(height, layer.kernel_size[0], layer.stride[0], layer.padding[0])
    ow = conv_output_size(width, layer.kernel_size[1], layer.stride[1], layer.padding[1])
    multiply_adds = (
        batch * layer.out_channels * oh * ow * layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1]
    )
    return 2 * multiply_adds
