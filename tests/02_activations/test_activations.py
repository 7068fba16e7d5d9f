"""Module 02: activations match their formulas, keep float32 and stay exact and silent at +-1000."""

import math

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.nn import GELU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from tinytorch.nn.functional import gelu, log_softmax, relu, sigmoid, softmax, softplus, tanh

pytestmark = pytest.mark.m02

EXTREME = np.array([-1000.0, -100.0, -20.0, 0.0, 20.0, 100.0, 1000.0])


def strict():
    """Overflow, invalid values (NaN) and division by zero become errors; underflow to 0 is fine."""
    return np.errstate(over="raise", invalid="raise", divide="raise")


def reference_sigmoid(x):
    """The definition, evaluated in float64 (exp overflowing to inf still gives the right limit, 0)."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def exact_gelu(x):
    return x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def tanh_gelu(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


GRID = np.linspace(-8, 8, 161)


def gelu_tanh(x):
    return gelu(x, approximate="tanh")


def test_relu():
    x = Tensor([-3.0, -0.5, 0.0, 0.5, 3.0])
    np.testing.assert_array_equal(ReLU()(x).data, [0, 0, 0, 0.5, 3.0])
    np.testing.assert_array_equal(relu(x).data, ReLU().forward(x).data)


@pytest.mark.parametrize(
    "ours, reference",
    [
        (sigmoid, reference_sigmoid),
        (tanh, np.tanh),
        (softplus, lambda x: np.logaddexp(0, x)),
        (gelu_tanh, tanh_gelu),
        (relu, lambda x: np.maximum(x, 0)),
    ],
    ids=["sigmoid", "tanh", "softplus", "gelu_tanh", "relu"],
)
def test_elementwise_matches_reference_in_float64(ours, reference):
    np.testing.assert_allclose(ours(Tensor(GRID, dtype=np.float64)).data, reference(GRID), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "ours, reference",
    [
        (sigmoid, reference_sigmoid),
        (tanh, np.tanh),
        (softplus, lambda x: np.logaddexp(0, x)),
        (gelu, exact_gelu),
        (gelu_tanh, tanh_gelu),
    ],
    ids=["sigmoid", "tanh", "softplus", "gelu", "gelu_tanh"],
)
def test_elementwise_exact_at_extremes_without_warnings(ours, reference):
    for dtype in (np.float32, np.float64):
        with strict():
            result = ours(Tensor(EXTREME, dtype=dtype))
        assert result.dtype == dtype
        # softplus(-20) = 2e-9 rounds to 0 in float32 (no log1p): absolute error below machine epsilon
        np.testing.assert_allclose(result.data, reference(EXTREME), rtol=1e-6, atol=np.finfo(dtype).eps)


def test_saturated_values_are_exactly_0_and_1():
    with strict():
        assert sigmoid(Tensor([-1000.0, 1000.0])).data.tolist() == [0.0, 1.0]
        assert tanh(Tensor([-1000.0, 1000.0])).data.tolist() == [-1.0, 1.0]
        assert gelu(Tensor([-1000.0, 1000.0])).data.tolist() == [0.0, 1000.0]


def test_gelu_is_the_exact_gelu_and_its_tanh_form_is_close():
    # GELU() is x * Phi(x) with Phi from Abramowitz and Stegun 26.2.17 (within 7.5e-8), as PyTorch's exact GELU
    np.testing.assert_allclose(gelu(Tensor(GRID, dtype=np.float64)).data, exact_gelu(GRID), atol=1e-6)
    np.testing.assert_allclose(gelu_tanh(Tensor(GRID, dtype=np.float64)).data, exact_gelu(GRID), atol=5e-4)


def test_sigmoid_and_tanh_are_symmetric():
    x = Tensor(GRID, dtype=np.float64)
    np.testing.assert_allclose(sigmoid(x).data + sigmoid(-x).data, 1.0, atol=1e-15)
    np.testing.assert_allclose(tanh(x).data, -tanh(-x).data, atol=1e-15)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_matches_reference_along_any_dim(dim):
    a = np.random.default_rng(0).standard_normal((3, 4, 5)) * 4
    e = np.exp(a - a.max(axis=dim, keepdims=True))
    expected = e / e.sum(axis=dim, keepdims=True)
    np.testing.assert_allclose(Softmax(dim=dim)(Tensor(a, dtype=np.float64)).data, expected, rtol=1e-12)
    np.testing.assert_allclose(
        LogSoftmax(dim=dim)(Tensor(a, dtype=np.float64)).data, np.log(expected), rtol=1e-12, atol=1e-12
    )


def test_softmax_rows_sum_to_one_in_float32():
    probs = softmax(Tensor(np.random.default_rng(1).standard_normal((8, 10)) * 10, dtype=np.float32))
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.data.sum(axis=-1), 1.0, rtol=1e-6)


def test_softmax_and_log_softmax_at_plus_minus_1000():
    scores = Tensor([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -1000.0], [1000.0, 1000.0, 0.0]])
    with strict():
        probs = softmax(scores).data
        logs = log_softmax(scores).data
    np.testing.assert_allclose(probs, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0]], atol=1e-7)
    np.testing.assert_allclose(logs[0], [0.0, -1000.0, -2000.0])
    np.testing.assert_allclose(logs[1], [-math.log(3)] * 3, rtol=1e-6)
    np.testing.assert_allclose(logs[2], [-math.log(2), -math.log(2), -1000 - math.log(2)], rtol=1e-6)
    assert np.all(np.isfinite(logs)), "log-softmax never returns -inf, unlike log(softmax)"


def test_activations_accept_arrays_and_keep_shape():
    batch = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    for activation in (ReLU(), Sigmoid(), Tanh(), GELU(), Softmax(), LogSoftmax()):
        out = activation(batch)
        assert isinstance(out, Tensor) and out.shape == (2, 3, 4) and out.dtype == np.float32


def test_reprs_read_like_pytorch():
    assert [repr(a) for a in (ReLU(), Sigmoid(), Tanh(), GELU())] == ["ReLU()", "Sigmoid()", "Tanh()", "GELU()"]
    assert repr(Softmax(dim=1)) == "Softmax(dim=1)" and repr(LogSoftmax()) == "LogSoftmax(dim=-1)"
