"""PyTorch's answers where the framework once gave others, checked without PyTorch installed.

tests/parity/ compares the same things with PyTorch itself when it is installed.
"""

import numpy as np
import pytest

import tinytorch
from tinytorch import Tensor
from tinytorch.nn import ReLU

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
