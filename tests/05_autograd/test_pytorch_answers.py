"""PyTorch's answers where the framework once gave others, checked without PyTorch installed.

tests/parity/ compares the same things with PyTorch itself when it is installed.
"""

import math

import numpy as np
import pytest

import tinytorch
from tinytorch import Tensor
from tinytorch.data import DataLoader, Dataset
from tinytorch.nn import GELU, BatchNorm2d, ReLU

pytestmark = pytest.mark.m05


def test_relu_passes_no_gradient_at_exactly_zero():
    x = Tensor([-1.0, 0.0, 0.0, 2.0], requires_grad=True)
    ReLU()(x).sum().backward()
    assert x.grad.data.tolist() == [0.0, 0.0, 0.0, 1.0]


def test_float64_arrays_stay_float64_and_python_floats_are_float32():
    assert Tensor(np.ones(2)).dtype == np.float64
    assert Tensor([1.0, 2.0]).dtype == np.float32 and Tensor(0.5).dtype == np.float32
    x = Tensor(np.ones(3), requires_grad=True)
    y = (x * 0.5 + 1).exp().sum()
    y.backward()
    assert y.dtype == np.float64 and x.grad.dtype == np.float64


def test_abs_and_numpy_conversion():
    t = Tensor([-1.5, 2.0], requires_grad=True)
    abs(t).sum().backward()
    assert abs(t).data.tolist() == [1.5, 2.0] and t.grad.data.tolist() == [-1.0, 1.0]
    assert np.asarray(t) is t.data and np.stack([t, t]).shape == (2, 2)
    assert np.asarray(t, dtype=np.float64).dtype == np.float64


def test_a_dataloader_batches_a_dataset_that_returns_tensors():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return Tensor([float(i), float(i * i)]), Tensor(i)

    batches = list(DataLoader(Squares(), batch_size=2))
    assert [b[0].shape for b in batches] == [(2, 2), (2, 2), (1, 2)]
    assert batches[1][0].data.tolist() == [[2.0, 4.0], [3.0, 9.0]] and batches[1][1].dtype == np.int64


def test_gelu_is_exact_by_default_and_tanh_on_request():
    x = Tensor(np.array([-2.7, -1.0, 0.0, 1.0]))
    exact = [v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.data]  # x * Phi(x)
    np.testing.assert_allclose(GELU()(x).data, exact, atol=1e-6)
    assert np.abs(GELU(approximate="tanh")(x).data - exact).max() > 1e-5
    assert repr(GELU(approximate="tanh")) == "GELU(approximate='tanh')"
    with pytest.raises(ValueError, match="'none' or 'tanh'"):
        GELU(approximate="erf")


def test_batchnorm_counts_the_batches_it_tracked():
    bn = BatchNorm2d(2)
    for _ in range(3):
        bn(Tensor(np.random.default_rng(0).standard_normal((4, 2, 3, 3)), dtype=np.float32))
    assert bn.state_dict()["num_batches_tracked"] == 3


def test_tensor_methods_are_the_ones_tensor_py_defines_with_autograd_on():
    from tinytorch import tensor as tensor_file

    assert tensor_file.AUTOGRAD.enabled, "module 05 is exported, so the hook is filled"
    for name in ("__add__", "__mul__", "__matmul__", "sum", "reshape", "backward"):
        method = Tensor.__dict__[name]
        assert method.__module__ == "tinytorch.tensor", name
        assert method.__code__.co_filename == tensor_file.__file__, name
    assert Tensor.__add__ is tensor_file.Tensor.__dict__["__add__"]
    assert Tensor.__add__.__wrapped__.__qualname__ == "Tensor.__add__", "module 01's own code sits under the hook"
    assert tinytorch.Tensor is Tensor
