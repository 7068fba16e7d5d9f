"""Module 09's given Winograd path (tinytorch/nn/winograd.py) computes what the student's im2col kernels compute.

The kernels of module 09 are the reference: every Winograd result is compared with theirs, its float32
rounding error is measured against float64 and bounded, and float64 gradients through autograd are
checked against finite differences. The engine must send a layer to Winograd only where `suits` says
so, and every other layer, the narrow ones the course's own tests use among them, to the kernels.
"""

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.autograd import gradcheck
from tinytorch.nn import Conv2d, engine, winograd
from tinytorch.nn.kernels import conv2d_backward, conv2d_forward

pytestmark = pytest.mark.m09
# The Winograd code is given and tested: when it disagrees with the kernels, look at the kernels first.
CHECK_KERNELS = "differs from your conv2d_forward / conv2d_backward (module 09): check them first"

# (N, H, W, C, OC, padding): even and odd outputs, no padding, the input gradient's own padding (2).
SHAPES = [
    (2, 6, 6, 3, 4, (1, 1)),
    (2, 7, 5, 3, 4, (1, 1)),
    (3, 8, 9, 5, 2, (0, 0)),
    (2, 5, 6, 3, 3, (2, 2)),
    (1, 7, 7, 2, 3, (0, 1)),
    (2, 3, 3, 2, 2, (0, 0)),  # a single output pixel
]


def case(shape, dtype, seed=0):
    n, h, w, c, oc, padding = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    weight = (rng.standard_normal((oc, c, 3, 3)) / np.sqrt(9 * c)).astype(dtype)
    grad = rng.standard_normal((n, h + 2 * padding[0] - 2, w + 2 * padding[1] - 2, oc)).astype(dtype)
    return x, weight, grad, padding


def winograd_all(x, weight, grad, padding, tiling=winograd.F2X2):
    out = winograd.conv2d_forward(x, winograd.transform_kernels(weight, tiling), padding)
    dx = winograd.input_grad(grad, winograd.flipped_kernels(weight, tiling), padding)
    return out, dx, winograd.weight_grad(grad, x, padding, tiling)


def im2col_all(x, weight, grad, padding):
    out = conv2d_forward(x, weight, None, (1, 1), padding)
    dx, dweight, _ = conv2d_backward(grad, x, weight, (1, 1), padding)
    return out, dx, dweight


TILINGS = pytest.mark.parametrize("tile_size", [2, 4])


@TILINGS
@pytest.mark.parametrize("shape", SHAPES)
def test_float64_results_equal_the_im2col_kernels(shape, tile_size):
    arrays = case(shape, np.float64)
    got_all = winograd_all(*arrays, winograd.TILINGS[tile_size])
    for name, got, want in zip(("output", "dx", "dweight"), got_all, im2col_all(*arrays)):
        assert got.shape == want.shape and got.dtype == np.float64, name
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11, err_msg=f"Winograd's {name} {CHECK_KERNELS}")


# F(2x2, 3x3): within 3x im2col's own error and under 2e-6; F(4x4, 3x3): within 40x and under 3e-5.
ERROR_BOUNDS = {2: (3, 2e-6), 4: (40, 3e-5)}


@TILINGS
@pytest.mark.parametrize("shape", [(4, 16, 16, 32, 64, (1, 1)), (4, 8, 8, 64, 128, (1, 1)), (3, 9, 7, 16, 24, (1, 1))])
def test_float32_error_is_measured_and_bounded_by_im2cols(shape, tile_size):
    """Against float64: Winograd's float32 error, as a share of the largest value, against im2col's own.

    Measured (seed 1, these shapes): F(2x2, 3x3) 2-4e-7 for outputs, 2-5e-7 for dx, 3-10e-7 for
    dweight; F(4x4, 3x3) 3-6e-6, 4-7e-6 and 2-6e-6 (up to 30x im2col's); im2col 3-7e-7, 1-3e-7, 4-6e-7.
    """
    ratio, bound = ERROR_BOUNDS[tile_size]
    exact = im2col_all(*case(shape, np.float64, seed=1))
    single = case(shape, np.float32, seed=1)
    fast_all = winograd_all(*single, winograd.TILINGS[tile_size])
    for name, fast, plain, truth in zip(("output", "dx", "dweight"), fast_all, im2col_all(*single), exact):
        assert fast.dtype == np.float32, name
        scale = np.abs(truth).max()
        fast_error, plain_error = np.abs(fast - truth).max() / scale, np.abs(plain - truth).max() / scale
        assert fast_error < bound and fast_error <= ratio * plain_error + 1e-7, (name, fast_error, plain_error)


@pytest.fixture(params=[2, 4], ids=["F2x2", "F4x4"])
def every_layer(monkeypatch, request):
    """Winograd, with each tiling, for every 3x3 stride-1 layer, however narrow (the tests' layers are small)."""
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "ENABLED", True)
    monkeypatch.setattr(winograd, "TILE_SIZE", request.param)


@pytest.fixture
def restore_threads():
    threads = engine.get_num_threads()
    yield
    engine.set_num_threads(threads)


@pytest.mark.parametrize("threads, chunk_bytes", [(1, 2**30), (2, 1), (3, 3000)])
@pytest.mark.parametrize("shape", [SHAPES[1], SHAPES[2], (9, 6, 6, 4, 3, (1, 1))])
@pytest.mark.parametrize("bias, need_input_grad", [(False, True), (True, False)])
def test_engine_slices_and_threads_give_the_kernels_numbers(
    every_layer, restore_threads, monkeypatch, threads, chunk_bytes, shape, bias, need_input_grad
):
    x, weight, grad, padding = case(shape, np.float64, seed=2)
    b = np.random.default_rng(3).standard_normal(weight.shape[0]) if bias else None
    monkeypatch.setattr(engine, "CHUNK_BYTES", chunk_bytes)  # 1: every image its own slice
    monkeypatch.setattr(winograd, "PARTS_PER_SLICE", 2)
    engine.set_num_threads(threads)
    assert winograd.suits(x.shape, weight.shape, (1, 1), padding)
    options = {"stride": (1, 1), "padding": padding, "dilation": (1, 1), "groups": 1}
    np.testing.assert_allclose(
        engine.conv2d(conv2d_forward, x, weight, b, options),
        conv2d_forward(x, weight, b, (1, 1), padding),
        rtol=1e-12,
        atol=1e-12,
        err_msg=f"the engine's Winograd output {CHECK_KERNELS}",
    )
    if bias:  # a gradient in (N, C, H, W) memory, as a layer that is not channels-last hands back
        grad = np.ascontiguousarray(grad.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)
    got = engine.conv2d_grads(conv2d_backward, grad, x, weight, need_input_grad, options)
    want = conv2d_backward(grad, x, weight, (1, 1), padding, need_input_grad=need_input_grad)
    assert (got[0] is None) == (not need_input_grad)
    for fast, plain in zip(got, want):
        if plain is not None:
            np.testing.assert_allclose(
                fast, plain, rtol=1e-12, atol=1e-12, err_msg=f"a Winograd gradient {CHECK_KERNELS}"
            )


@pytest.mark.parametrize(
    "x_shape, padding, bias", [((2, 3, 6, 6), 1, True), ((1, 2, 7, 5), 0, False), ((2, 2, 4, 5), 2, True)]
)
def test_gradcheck_through_autograd(every_layer, monkeypatch, x_shape, padding, bias):
    calls = []
    transform = winograd.transform_tiles
    monkeypatch.setattr(winograd, "transform_tiles", lambda *args: calls.append(1) or transform(*args))
    rng = np.random.default_rng(4)
    conv = Conv2d(x_shape[1], 3, 3, padding=padding, bias=bias).double()
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True, dtype=np.float64)
    params = [conv.weight] + ([conv.bias] if bias else [])
    assert gradcheck(lambda x, *params: conv(x), [x, *params])
    assert calls, "the layer did not run through Winograd"


def test_only_the_layers_that_suit_it_leave_the_kernels():
    layer = ((256, 16, 16, 32), (64, 32, 3, 3), (1, 1), (1, 1))  # the cifar10 milestone's second conv
    assert winograd.suits(*layer)
    assert winograd.suits(*layer, dilation=(1, 1), groups=1)
    assert not winograd.suits((256, 32, 32, 3), (32, 3, 3, 3), (1, 1), (1, 1))  # 3 channels: too narrow
    assert not winograd.suits((256, 16, 16, 16), (32, 16, 3, 3), (1, 1), (1, 1))  # 16: no faster than im2col
    assert not winograd.suits((8, 16, 16, 32), (64, 32, 3, 3), (2, 2), (1, 1))  # stride 2
    assert not winograd.suits((8, 16, 16, 32), (64, 32, 5, 5), (1, 1), (2, 2))  # 5x5
    assert not winograd.suits((8, 16, 16, 32), (64, 32, 3, 3), (1, 1), (3, 3))  # padding 3
    assert not winograd.suits((8, 16, 16, 32), (16, 32, 3, 1), (1, 1), (1, 1))  # 3x1
    assert not winograd.suits(*layer, dilation=(2, 2))  # dilated
    assert not winograd.suits((8, 16, 16, 64), (64, 32, 3, 3), (1, 1), (1, 1), groups=2)  # grouped


def test_the_students_kernels_still_run_where_winograd_does_not():
    """Break the student's kernels: a narrow layer fails, a Winograd layer does not call them, and off means off."""

    def broken(*args, **kwargs):
        raise AssertionError("the student's kernel ran")

    options = {"stride": (1, 1), "padding": (1, 1), "dilation": (1, 1), "groups": 1}
    rng = np.random.default_rng(5)
    narrow = rng.standard_normal((2, 6, 6, 3)).astype(np.float32), rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    with pytest.raises(AssertionError, match="student's kernel"):
        engine.conv2d(broken, *narrow, None, options)
    wide = rng.standard_normal((2, 6, 6, 32)).astype(np.float32), rng.standard_normal((32, 32, 3, 3)).astype(np.float32)
    out = engine.conv2d(broken, *wide, None, options)
    engine.conv2d_grads(broken, np.ones_like(out), *wide, True, options)
    for other in ({"dilation": (2, 2), "padding": (2, 2)}, {"groups": 2}):  # Winograd's layers only
        grouped = wide[1][:, : 32 // other.get("groups", 1)]
        with pytest.raises(AssertionError, match="student's kernel"):
            engine.conv2d(broken, wide[0], grouped, None, {**options, **other})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(winograd, "ENABLED", False)
        with pytest.raises(AssertionError, match="student's kernel"):
            engine.conv2d(broken, *wide, None, options)
