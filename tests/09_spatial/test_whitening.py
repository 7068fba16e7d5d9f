"""Module 09: a first layer whitened from the data decorrelates its responses."""

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.nn import Conv2d
from tinytorch.nn.kernels import conv2d_loops
from tinytorch.nn.whitening import patch_whitening

pytestmark = pytest.mark.m09


def photos(rng, n=48):
    """Colour images whose neighbouring pixels and channels are correlated, as in photographs."""
    base = rng.standard_normal((n, 1, 12, 12))
    smooth = base + np.roll(base, 1, axis=2) + np.roll(base, 1, axis=3)
    return np.concatenate([smooth, 0.8 * smooth + 0.2 * rng.standard_normal(smooth.shape), smooth * 0.5], axis=1)


def test_whitened_filters_give_decorrelated_responses_of_unit_variance():
    images = photos(np.random.default_rng(0))
    filters = patch_whitening(images, kernel_size=3, out_channels=12, eps=0.0)
    assert filters.shape == (12, 3, 3, 3) and filters.dtype == images.dtype
    conv = Conv2d(3, 6, kernel_size=3, bias=False).double()
    conv.weight.data[...] = filters[:6]
    responses = conv(Tensor(images, dtype=np.float64)).data.transpose(1, 0, 2, 3).reshape(6, -1)
    np.testing.assert_allclose(np.cov(responses), np.eye(6), atol=0.08)


def test_the_strongest_direction_comes_first_and_each_is_used_with_both_signs():
    images = photos(np.random.default_rng(1))
    filters = patch_whitening(images, kernel_size=2, out_channels=6)
    np.testing.assert_array_equal(filters[3:], -filters[:3])
    norms = np.linalg.norm(filters[:3].reshape(3, -1), axis=1)
    assert norms[0] < norms[1] < norms[2], "a stronger direction (larger variance) gets a smaller scale"


@pytest.mark.parametrize("out_channels", [5, 56])
def test_an_odd_or_too_large_count_is_refused(out_channels):
    with pytest.raises(ValueError, match="even out_channels of at most 54"):
        patch_whitening(photos(np.random.default_rng(2)), kernel_size=3, out_channels=out_channels)


def test_filters_of_correlated_pixels_give_decorrelated_responses():
    rng = np.random.default_rng(8)
    base = rng.standard_normal((64, 1, 10, 10))
    images = base + np.roll(base, 1, axis=3)  # neighbouring pixels correlated, as in photos
    filters = patch_whitening(images, kernel_size=2, out_channels=8, eps=0.0)
    assert filters.shape == (8, 1, 2, 2) and np.allclose(filters[4:], -filters[:4])
    responses = conv2d_loops(images, filters[:4]).transpose(1, 0, 2, 3).reshape(4, -1)
    assert np.allclose(np.cov(responses), np.eye(4), atol=0.1), "the responses are decorrelated, each of variance 1"
