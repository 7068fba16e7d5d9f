"""Module 09's forward kernels on their own: the max-pool winners it saves and the batch statistics.

A wrong winner or a wrong statistic also fails the gradient checks, but those call the backward kernels
too, so a failure there cannot say which kernel holds the bug. These tests call one forward kernel
each and compare it with a definition written out here, so a failure names that kernel.
"""

import numpy as np
import pytest

from tinytorch.nn.kernels import batch_statistics, maxpool2d_forward

pytestmark = pytest.mark.m09

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


@pytest.mark.checks("maxpool2d_forward")
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


@pytest.mark.checks("batch_statistics")
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
