"""GELU() is PyTorch's exact GELU, x * Phi(x); GELU(approximate="tanh") is the tanh form."""

import math

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.nn import GELU

pytestmark = pytest.mark.m02


def test_gelu_is_exact_by_default_and_tanh_on_request():
    x = Tensor(np.array([-2.7, -1.0, 0.0, 1.0]))
    exact = [v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.data]  # x * Phi(x)
    np.testing.assert_allclose(GELU()(x).data, exact, atol=1e-6)
    assert np.abs(GELU(approximate="tanh")(x).data - exact).max() > 1e-5
    assert repr(GELU(approximate="tanh")) == "GELU(approximate='tanh')"
    with pytest.raises(ValueError, match="'none' or 'tanh'"):
        GELU(approximate="erf")
