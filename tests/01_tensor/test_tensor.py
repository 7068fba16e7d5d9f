"""Module 01: Tensor's forward operations agree with NumPy, keep their dtypes and explain bad input."""

import numpy as np
import pytest

from tinytorch import Tensor, as_tensor
from tinytorch.tensor import DEFAULT_FLOAT

pytestmark = pytest.mark.m01


def random_shape(rng, max_ndim=3):
    return tuple(int(n) for n in rng.integers(1, 5, size=rng.integers(0, max_ndim + 1)))


def broadcast_partner(rng, shape):
    """A shape that broadcasts against `shape`: some leading dims dropped, some dims set to 1."""
    kept = shape[rng.integers(0, len(shape) + 1) :]
    return tuple(1 if rng.random() < 0.4 else n for n in kept)


# --- creation and dtypes ----------------------------------------------------------------------


def test_float_data_becomes_float32_and_integers_stay_integer():
    assert Tensor([1.5, 2.0]).dtype == np.float32
    assert Tensor(np.ones(3, dtype=np.float64)).dtype == np.float64, "an array keeps its dtype, as in torch.as_tensor"
    assert Tensor(np.float64(2.0)).dtype == np.float64 and Tensor(2.0).dtype == np.float32
    assert Tensor([1, 2, 3]).dtype == np.int64
    assert Tensor(np.array([True, False])).dtype == np.bool_
    assert Tensor(np.ones(2), dtype=np.float64).dtype == np.float64
    assert DEFAULT_FLOAT == np.float32


def test_shares_memory_with_an_array_of_the_same_dtype():
    array = np.zeros(4, dtype=np.float32)
    t = Tensor(array)
    array[0] = 7.0
    assert t.data[0] == 7.0, "like torch.from_numpy, no copy for a float32 array"


def test_attributes_describe_the_array():
    t = Tensor(np.zeros((2, 3, 4)))
    assert (t.shape, t.size, t.ndim, len(t)) == ((2, 3, 4), 24, 3, 2)
    assert t.T.shape == (4, 3, 2)
    assert t.requires_grad is False and t.grad is None
    assert t.numpy() is t.data


def test_non_numeric_data_is_refused_with_a_clear_message():
    with pytest.raises(TypeError, match="must be numbers"):
        Tensor(["a", "b"])


def test_only_floating_tensors_can_require_grad():
    with pytest.raises(TypeError, match="Only floating"):
        Tensor([1, 2], requires_grad=True)


def test_item_and_bool():
    assert Tensor([[3.5]]).item() == 3.5
    with pytest.raises(ValueError, match="one element"):
        Tensor([1.0, 2.0]).item()
    assert bool(Tensor([2.0])) is True and bool(Tensor(0.0)) is False
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor([1.0, 2.0]))


def test_a_tensor_holding_one_number_formats_like_that_number():
    assert f"{Tensor(2.0) / 3:.4f}" == "0.6667", "a 0-d tensor, such as a loss"
    assert f"{Tensor([0.125]):.2f}" == "0.12" and f"{Tensor([[3]]):04d}" == "0003"
    assert f"{Tensor([0.5, 1.0])}" == str(Tensor([0.5, 1.0])), "no spec: the repr, whatever the shape"
    with pytest.raises(TypeError, match=r"'\.4f'.*shape \(2,\)"):
        f"{Tensor([0.5, 1.0]):.4f}"


def test_grad_takes_a_tensor_of_the_tensors_shape_or_none():
    w = Tensor([1.0, 2.0], requires_grad=True)
    gradient = Tensor([0.5, -0.5])
    w.grad = gradient
    assert w.grad is gradient
    w.grad = None
    assert w.grad is None


def test_grad_refuses_an_array_or_a_wrong_shape_at_the_assignment():
    w = Tensor(np.ones((2, 3)), requires_grad=True)
    kept = Tensor(np.zeros((2, 3)))
    w.grad = kept
    with pytest.raises(TypeError, match=r"grad must be a Tensor or None, got an object of type ndarray.*\(2, 3\)"):
        w.grad = np.ones((2, 3))
    with pytest.raises(TypeError, match="type list"):
        w.grad = [[1.0, 1.0, 1.0]] * 2
    with pytest.raises(ValueError, match=r"shape \(2, 3\), got shape \(3,\)"):
        w.grad = Tensor(np.ones(3))
    assert w.grad is kept, "a refused assignment leaves the gradient as it was"


def test_repr_shows_values_and_non_default_dtype():
    assert repr(Tensor([1.0, 2.0])) == "Tensor([1., 2.])"
    assert "dtype=int64" in repr(Tensor([1, 2]))
    assert "requires_grad=True" in repr(Tensor([1.0], requires_grad=True))


def test_as_tensor_passes_tensors_through_and_scalars_adopt_dtype():
    t = Tensor([1.0], dtype=np.float64)
    assert as_tensor(t) is t
    assert as_tensor(2.5, like=t).dtype == np.float64
    assert as_tensor(2.5, like=Tensor([1.0])).dtype == np.float32
    assert as_tensor(np.arange(3)).dtype == np.int64


# --- arithmetic ---------------------------------------------------------------------------------

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
}


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_broadcast_like_numpy(name, seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng)
    other = broadcast_partner(rng, shape)
    if rng.random() < 0.5:
        shape, other = other, shape
    a = rng.uniform(0.5, 2.0, shape).astype(np.float32)
    b = rng.uniform(0.5, 2.0, other).astype(np.float32)
    ours, reference = BINARY[name]
    result = ours(Tensor(a), Tensor(b))
    assert result.shape == np.broadcast_shapes(shape, other)
    np.testing.assert_allclose(result.data, reference(a, b), rtol=1e-6)


def test_reflected_forms_and_negation():
    x = Tensor([1.0, 2.0, 4.0])
    np.testing.assert_allclose((1 + x).data, [2, 3, 5])
    np.testing.assert_allclose((10 - x).data, [9, 8, 6])
    np.testing.assert_allclose((3 * x).data, [3, 6, 12])
    np.testing.assert_allclose((8 / x).data, [8, 4, 2])
    np.testing.assert_allclose((-x).data, [-1, -2, -4])
    np.testing.assert_allclose((np.ones(3) + x).data, [2, 3, 5])  # ndarray on the left defers to Tensor
    assert isinstance(np.ones(3) + x, Tensor)


@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1, 1, 1.5, -2])
def test_power_matches_numpy_for_fast_and_general_exponents(exponent):
    a = np.random.default_rng(0).uniform(0.5, 2.0, (3, 4)).astype(np.float32)
    result = Tensor(a) ** exponent
    assert result.dtype == np.float32
    np.testing.assert_allclose(result.data, a.astype(np.float64) ** exponent, rtol=2e-6)


def test_power_of_an_integer_tensor_stays_integer():
    assert (Tensor([2, 3]) ** 2).data.tolist() == [4, 9]


def test_power_refuses_a_tensor_exponent():
    with pytest.raises(TypeError, match="exponent"):
        Tensor([1.0]) ** Tensor([2.0])


def test_python_scalars_do_not_upcast():
    x32 = Tensor([1.0, 2.0])
    x64 = Tensor([1.0, 2.0], dtype=np.float64)
    for result in (x32 + 0.1, x32 * 3.0, 2.0 - x32, x32 / 7, x32**2.0):
        assert result.dtype == np.float32
    for result in (x64 + 0.1, 0.5 * x64, x64**0.5):
        assert result.dtype == np.float64


# --- matmul -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)), ((5, 2, 3), (3, 4)), ((5, 2, 3), (1, 3, 4))],
)
def test_matmul_matches_numpy(a_shape, b_shape):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    np.testing.assert_allclose((Tensor(a) @ Tensor(b)).data, a @ b, rtol=1e-5, atol=1e-6)


def test_matmul_method_is_the_operator():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(Tensor(a).matmul(Tensor(b)).data, a @ b)
    np.testing.assert_array_equal(Tensor(a).matmul(b).data, a @ b)
    calls = []

    class Recording(Tensor):
        def __matmul__(self, other):
            calls.append(other)
            return super().__matmul__(other)

    Recording(a).matmul(b)
    assert len(calls) == 1, "matmul goes through __matmul__ (and so through autograd), not around it"


def test_matmul_error_names_both_shapes():
    with pytest.raises(ValueError) as error:
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((4, 5)))
    assert "(2, 3)" in str(error.value) and "(4, 5)" in str(error.value)


def test_matmul_refuses_scalars():
    with pytest.raises(ValueError, match="at least 1 dimension"):
        Tensor(2.0) @ Tensor([1.0])


# --- comparisons --------------------------------------------------------------------------------


def test_comparisons_give_boolean_tensors():
    x = Tensor([1.0, 2.0, 3.0])
    assert (x < 2).data.tolist() == [True, False, False]
    assert (x <= 2).data.tolist() == [True, True, False]
    assert (x > 2).data.tolist() == [False, False, True]
    assert (x >= 2).data.tolist() == [False, True, True]
    assert (x == 2).data.tolist() == [False, True, False]
    assert (x != 2).data.tolist() == [True, False, True]
    assert (x > Tensor([0.0, 5.0, 1.0])).dtype == np.bool_


# --- reductions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["sum", "mean", "max"])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy(reduction, axis, keepdims):
    a = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    result = getattr(Tensor(a), reduction)(axis=axis, keepdims=keepdims)
    expected = getattr(np, reduction)(a, axis=axis, keepdims=keepdims)
    assert result.shape == np.shape(expected)
    np.testing.assert_allclose(result.data, expected, rtol=1e-5)


# --- shapes and indexing ------------------------------------------------------------------------


def test_reshape_transpose_permute_flatten():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = Tensor(a)
    np.testing.assert_array_equal(x.reshape(4, 6).data, a.reshape(4, 6))
    np.testing.assert_array_equal(x.reshape((6, -1)).data, a.reshape(6, 4))
    np.testing.assert_array_equal(x.transpose().data, a.swapaxes(-2, -1))
    np.testing.assert_array_equal(x.transpose(0, 2).data, a.swapaxes(0, 2))
    np.testing.assert_array_equal(x.permute(2, 0, 1).data, a.transpose(2, 0, 1))
    np.testing.assert_array_equal(x.permute((1, 2, 0)).data, a.transpose(1, 2, 0))
    np.testing.assert_array_equal(x.flatten().data, a.ravel())
    assert x.flatten(1).shape == (2, 12) and x.flatten(0, 1).shape == (6, 4)


def test_permute_names_a_bad_order():
    with pytest.raises(ValueError, match="exactly once"):
        Tensor(np.ones((2, 3))).permute(0, 0)


def test_flatten_refuses_start_after_end():
    with pytest.raises(ValueError, match="start_dim"):
        Tensor(np.ones((2, 3, 4))).flatten(2, 1)


@pytest.mark.parametrize(
    "index",
    [
        1,
        -1,
        slice(None, None, -1),
        (slice(None), 2),
        (Ellipsis, 0),
        (None, 1),
        [0, 0, 1],
        (np.array([0, 1]), np.array([2, 3])),
    ],
)
def test_indexing_matches_numpy(index):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(Tensor(a)[index].data, a[index])


def test_indexing_with_a_boolean_tensor():
    x = Tensor([1.0, -2.0, 3.0])
    assert x[x > 0].data.tolist() == [1.0, 3.0]


# --- elementwise functions ----------------------------------------------------------------------


def test_elementwise_functions_match_numpy():
    a = np.random.default_rng(3).uniform(0.1, 3.0, (3, 4)).astype(np.float32)
    x = Tensor(a)
    np.testing.assert_allclose(x.exp().data, np.exp(a), rtol=1e-6)
    np.testing.assert_allclose(x.log().data, np.log(a), rtol=1e-6)
    np.testing.assert_allclose(x.sqrt().data, np.sqrt(a), rtol=1e-6)
    np.testing.assert_array_equal((-x).abs().data, a)
    np.testing.assert_array_equal(x.clip(0.5, 2.0).data, np.clip(a, 0.5, 2.0))
    np.testing.assert_array_equal(x.clip(min=1.0).data, np.maximum(a, 1.0))
    np.testing.assert_array_equal(x.clip(max=1.0).data, np.minimum(a, 1.0))
    for result in (x.exp(), x.log(), x.sqrt(), x.abs(), x.clip(0, 1)):
        assert result.dtype == np.float32


def test_detach_shares_numbers_but_not_the_object():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x.detach()
    assert y is not x and not y.requires_grad
    assert np.shares_memory(x.data, y.data)
