"""Module 01: elementwise functions keep float64, which gradient checks in float64 depend on.

The module's own dtype test uses float32 input, so a function that casts its result to float32
(`np.exp(x).astype(np.float32)`) passes it; float64 input tells them apart."""

import numpy as np
import pytest

from tinytorch import Tensor

pytestmark = pytest.mark.m01


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "abs"])
def test_an_elementwise_function_keeps_float64(name):
    a = np.random.default_rng(5).uniform(0.1, 3.0, (2, 3))
    result = getattr(Tensor(a), name)()
    assert result.dtype == np.float64, f"{name} turned float64 input into {result.dtype}"
    np.testing.assert_allclose(result.data, getattr(np, name)(a), rtol=1e-12)


def test_clip_keeps_float64():
    a = np.linspace(-2.0, 2.0, 7)
    result = Tensor(a).clip(-1.0, 1.0)
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result.data, np.clip(a, -1.0, 1.0))
