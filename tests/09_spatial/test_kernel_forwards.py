"""Module 09's forward kernels on their own: output sizes, the max-pool winners and the batch statistics.

A wrong size, winner or statistic also fails the layer and gradient tests, but those call the other
kernels too, so a failure there cannot say which kernel holds the bug (tito's failure map blames the
function most of the failing tests called). These tests call one kernel each and compare it with a
definition written out here, so their failures name that kernel.
"""

import itertools

import numpy as np
import pytest

from tinytorch.nn.kernels import batch_statistics, conv_output_size, maxpool2d_forward

pytestmark = pytest.mark.m09

SIZES = [  # (size, kernel, stride, padding, dilation): kernels up to the input's size, some that do not fit
    (size, kernel, stride, padding, dilation)
    for size, kernel, stride, (padding, dilation) in itertools.product(
        (1, 3, 8, 11, 32), (1, 3, 5), (1, 2, 3), ((0, 1), (1, 1), (2, 2))
    )
]


@pytest.mark.parametrize("size, kernel, stride, padding, dilation", SIZES)
def test_output_size_counts_the_window_starts(size, kernel, stride, padding, dilation):
    span = dilation * (kernel - 1) + 1  # the pixels one window covers
    starts = range(0, size + 2 * padding - span + 1, stride)  # every place a window can start
    if len(starts) == 0:
        with pytest.raises(ValueError, match="does not fit"):
            conv_output_size(size, kernel, stride, padding, dilation)
        return
    assert conv_output_size(size, kernel, stride, padding, dilation) == len(starts)


POOLS = [  # (kernel, stride, padding): square and rectangular, overlapping, padded
    ((2, 2), (2, 2), (0, 0)),
    ((3, 3), (1, 1), (1, 1)),
    ((3, 2), (2, 1), (1, 0)),
    ((2, 3), (1, 2), (0, 1)),
]


def first_maxima(x, kernel, stride, padding):
    """(maxima, winners) of x (N, H, W, C) by loops: a winner is u * KW + v of the window's first maximum."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    padded = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)), constant_values=-np.inf)
    n, height, width, channels = padded.shape
    oh, ow = (height - kh) // sh + 1, (width - kw) // sw + 1
    best = np.empty((n, oh, ow, channels))
    winner = np.empty((n, oh, ow, channels), dtype=np.int64)
    for place in np.ndindex(best.shape):  # (image, row, column, channel) of one output
        image, row, column, channel = place
        top, left = row * sh, column * sw
        window = padded[image, top : top + kh, left : left + kw, channel].ravel()
        winner[place] = np.argmax(window)  # argmax keeps the first of equal values
        best[place] = window[winner[place]]
    return best, winner


@pytest.mark.parametrize("kernel, stride, padding", POOLS)
@pytest.mark.parametrize("values", ["distinct", "ties"])
def test_maxpool_forward_saves_the_offset_of_each_windows_first_maximum(kernel, stride, padding, values):
    rng = np.random.default_rng(9)
    shape = (2, 7, 6, 3)
    if values == "distinct":
        x = rng.permutation(int(np.prod(shape))).reshape(shape).astype(np.float64)
    else:  # few values, many ties: the first maximum in (u, v) order wins, as in PyTorch
        x = rng.integers(0, 3, shape).astype(np.float64)
    best, winner = maxpool2d_forward(x, kernel, stride, padding)
    expected_best, expected_winner = first_maxima(x, kernel, stride, padding)
    assert winner.dtype == np.uint8, "one byte per window: the winner is an offset index below KH*KW"
    assert np.array_equal(best, expected_best), "each window's maximum"
    assert np.array_equal(winner, expected_winner), "winner = u * KW + v of the window's first maximum"


@pytest.mark.parametrize("rows_shape", [(12, 3), (50, 1), (7, 8)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batch_statistics_are_the_column_means_and_biased_variances(rows_shape, dtype):
    rng = np.random.default_rng(3)
    count, channels = rows_shape
    scale, shift = rng.uniform(0.1, 5.0, channels), rng.uniform(-4.0, 4.0, channels) + 1.0  # no mean near 0
    rows = (rng.standard_normal(rows_shape) * scale + shift).astype(dtype)
    mean, var = batch_statistics(rows)
    assert mean.shape == var.shape == (channels,), "one mean and one variance per channel (column)"
    tolerance = {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-10, "atol": 0.0}
    reference = rows.astype(np.float64)
    assert np.allclose(mean, reference.mean(axis=0), **tolerance), "the mean: column sums divided by M"
    assert np.allclose(var, reference.var(axis=0), **tolerance), "the variance: mean squared deviation, divided by M"
