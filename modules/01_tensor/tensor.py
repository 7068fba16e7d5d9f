# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 01: Tensor
#
# Every number a neural network touches lives in a tensor: an n-dimensional array with a shape and a
# dtype. In this module you wrap a NumPy array in a `Tensor` class and give it the operations the rest
# of the course is built from: arithmetic with broadcasting, matrix multiplication, reductions, shape
# changes, indexing and a few elementwise functions.
#
# This Tensor computes forward passes only. In module 05 every operation you write here gains a
# backward rule, and the layers you build in between start learning without a single change.
#
# **The systems view.** A float32 tensor of shape (64, 3, 32, 32) holds 196,608 numbers in 768 KiB.
# NumPy runs each operation as one loop in C over that memory, so the Python cost is paid once per
# operation, not once per number. That is the whole performance story of this course: keep the work
# inside a few large array operations.

# %%
#| default_exp tensor

# %%
#| export
import functools

import numpy as np

# %% [markdown]
# ## Creating tensors, and why float32
#
# Neural networks train happily in 32-bit floats, and float32 halves the memory and roughly doubles the
# speed of float64 matrix multiplication. So, as in PyTorch, a Tensor made from Python numbers or lists
# of them is float32, and integer data (class labels) stays integer. An array that already has a dtype
# keeps it: a float64 NumPy array makes a float64 Tensor (PyTorch's `torch.as_tensor` does the same),
# and `dtype=` asks for any other. Once a tensor is float64 (the gradient checker in module 05 uses
# float64, for precise finite differences) results stay float64: Python scalars take the tensor's dtype
# instead of silently changing it.

# %%
#| export
#| doc Tensor: an n-dimensional array with the operations a neural network needs, and the hook where autograd enters
DEFAULT_FLOAT = np.float32


def _to_array(data, dtype=None) -> np.ndarray:
    """The NumPy array a Tensor stores for `data`: an array keeps its dtype, Python floats become float32,
    and `dtype` overrides both."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    has_dtype = isinstance(data, (np.ndarray, np.generic))
    array = np.asarray(data)
    if array.dtype.kind == "f" and not has_dtype:
        array = array.astype(DEFAULT_FLOAT)  # Python floats (or lists of them): PyTorch's default dtype
    elif array.dtype.kind not in "fiub":
        raise TypeError(f"Tensor data must be numbers, got dtype {array.dtype}: pass numbers or a numeric array.")
    return array


def as_tensor(value, like=None) -> "Tensor":
    """`value` as a Tensor. A Python scalar takes the float dtype of `like`, so that
    `x * 0.5` stays float32 for a float32 x and float64 for a float64 x."""
    if isinstance(value, Tensor):
        return value
    if like is not None and np.isscalar(value) and not isinstance(value, (str, bytes)):
        if like.dtype.kind == "f":
            return Tensor._wrap(np.asarray(value, dtype=like.dtype))
        if isinstance(value, float):
            return Tensor._wrap(np.asarray(value, dtype=DEFAULT_FLOAT))
    return Tensor(value)


def _check_matmul(a_shape, b_shape) -> None:
    """A clear error for shapes that cannot be multiplied, naming both shapes."""
    if len(a_shape) == 0 or len(b_shape) == 0:
        raise ValueError(f"matmul needs tensors with at least 1 dimension, got shapes {a_shape} and {b_shape}.")
    inner_a = a_shape[-1]
    inner_b = b_shape[-2] if len(b_shape) > 1 else b_shape[0]
    if inner_a != inner_b:
        raise ValueError(
            f"matmul: shapes {tuple(a_shape)} and {tuple(b_shape)} do not align: the last dimension of the "
            f"first ({inner_a}) must equal the {'second-to-last' if len(b_shape) > 1 else 'only'} dimension "
            f"of the second ({inner_b})."
        )


def _normalize_axes(dims, ndim):
    """permute(2, 0, 1) and permute((2, 0, 1)) both mean the tuple (2, 0, 1)."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if sorted(d % ndim for d in dims) != list(range(ndim)):
        raise ValueError(f"permute needs each of the {ndim} dimensions exactly once, got {dims}.")
    return tuple(d % ndim for d in dims)


def _power(a: np.ndarray, exponent) -> np.ndarray:
    """a ** exponent, with the common exponents done by cheap ufuncs: NumPy's general power routine
    costs about as much as 50 multiplications per element (x ** 3 took 40 ms where x * x * x took 0.1 ms)."""
    if a.dtype.kind == "f":
        e = float(exponent)
        if e == 2.0:
            return np.square(a)
        if e == 3.0:
            return a * a * a
        if e == 0.5:
            return np.sqrt(a)
        if e == -1.0:
            return np.reciprocal(a)
        if e == 1.0:
            return a.copy()
    return a**exponent


def _flatten_shape(shape, start_dim, end_dim):
    """The shape after merging dimensions start_dim..end_dim (inclusive) into one."""
    ndim = len(shape)
    if ndim == 0:
        return (1,)
    start, end = start_dim % ndim, end_dim % ndim
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}.")
    merged = int(np.prod(shape[start : end + 1]))
    return tuple(shape[:start]) + (merged,) + tuple(shape[end + 1 :])


# %% [markdown]
# ## Where autograd enters
#
# In module 05 the operations below learn to record how each result was computed, so that
# `backward()` can retrace the steps and apply the chain rule. This file says where that happens. Each
# operation autograd can differentiate is marked `@differentiable`; a call to it goes to
# `AUTOGRAD.record` once module 05 has filled that hook, and straight to the code you write here before
# then. Module 05's `record` runs your method for the value (it never computes a value a second way)
# and adds the graph node around it. `backward()` goes to `AUTOGRAD.backward` the same way.
#
# Nothing else changes Tensor: its methods are the ones defined in this file, with or without autograd.

# %%
#| export
class _AutogradHook:
    """Where module 05 plugs in: `record(name, tensor, *args, **kwargs)` runs the operation `name` as a
    graph node; `backward(tensor, gradient, retain_graph)` walks the graph. None until module 05 fills them."""

    record = None
    backward = None

    @property
    def enabled(self) -> bool:
        return self.record is not None


AUTOGRAD = _AutogradHook()


def differentiable(operation):
    """Mark a Tensor operation that autograd may record: its calls go through `AUTOGRAD.record` once
    module 05 has filled it. `operation` itself, your module 01 code, is kept as `__wrapped__`."""
    name = operation.__name__

    @functools.wraps(operation)
    def dispatch(self, *args, **kwargs):
        if AUTOGRAD.record is None:
            return operation(self, *args, **kwargs)
        return AUTOGRAD.record(name, self, *args, **kwargs)

    return dispatch


# %% [markdown]
# ## The Tensor class
#
# The class below is a thin wrapper: `self.data` is the NumPy array, and every operation builds a new
# Tensor from NumPy's result. Read `__add__` first; the rest follow the same pattern (the
# `@differentiable` above an operation is where autograd will enter, as described above). Three attributes
# wait for module 05: `requires_grad` (should gradients flow to this tensor?), `grad` (where they will
# accumulate) and `_grad_fn` (the operation that produced this tensor, so backward can find its way).
#
# A few given methods follow PyTorch's conventions, so that code written for one runs on the other:
# - `grad` accepts only a Tensor of this tensor's shape, or None, and says so at the assignment, as
#   PyTorch does. Everything that reads a gradient (the optimizers of module 06, gradient clipping in
#   module 07) reads `p.grad.data` and needs an array there. A NumPy array would get as far as the
#   optimizer and fail inside it: its own `.data` is a raw memoryview of its bytes.
# - `a.matmul(b)` is another spelling of `a @ b`. It calls the operator rather than repeating its code,
#   so when module 05 makes `@` differentiable, `matmul` is differentiable too.
# - A tensor holding one number formats like that number: `f"{loss:.4f}"`.

# %%
#| export
class Tensor:
    """An n-dimensional array of numbers with the operations a neural network needs.

    >>> x = Tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> (x * 2 + 1).sum().item()
    24.0
    """

    __array_priority__ = 1000  # so that `ndarray + Tensor` asks Tensor.__radd__ instead of NumPy

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _to_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"Only floating tensors can require gradients, not dtype {self.data.dtype}.")
        self.requires_grad = bool(requires_grad)
        self._grad = None
        self._grad_fn = None

    @classmethod
    def _wrap(cls, array) -> "Tensor":
        """A Tensor around an array an operation just computed: no cast, no copy."""
        tensor = cls.__new__(cls)
        tensor.data = np.asarray(array)
        tensor.requires_grad = False
        tensor._grad = None  # the attribute behind the `grad` property, set directly: this is the hot path
        tensor._grad_fn = None
        return tensor

    @property
    def grad(self):
        """The gradient that backward() accumulated for this tensor: a Tensor of its shape, or None."""
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(
                f"grad must be a Tensor or None, got an object of type {type(value).__name__}: "
                f"wrap the array in a Tensor of shape {self.shape}, as in p.grad = Tensor(array)."
            )
        if value is not None and value.shape != self.shape:
            raise ValueError(
                f"grad must have the tensor's shape {self.shape}, got shape {value.shape}: "
                "compute the gradient for every element, or reshape it to match."
            )
        self._grad = value

    # --- what it is ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def T(self) -> "Tensor":
        return self.permute(*reversed(range(self.ndim)))

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", prefix="Tensor(")
        extras = f", dtype={self.dtype}" if self.dtype != DEFAULT_FLOAT else ""
        if self.requires_grad:
            extras += ", requires_grad=True"
        return f"Tensor({body}{extras})"

    __hash__ = object.__hash__  # tensors are used as dictionary keys (optimizer state), by identity

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"The truth value of a tensor with {self.size} elements is ambiguous: "
                "reduce it first, for example (x > 0).numpy().all(), or compare x.item()."
            )
        return bool(self.data)

    def __format__(self, spec: str) -> str:
        """f"{loss:.4f}" formats a one-number tensor like that number; an empty spec gives the repr."""
        if not spec:
            return str(self)
        if self.data.size != 1:
            raise TypeError(
                f"format spec {spec!r} needs a tensor holding one number, this one has shape {self.shape}: "
                "reduce it first (t.mean()) or format its numbers (t.numpy())."
            )
        return format(self.item(), spec)

    def numpy(self) -> np.ndarray:
        return self.data

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """np.asarray(t) is t's array, so NumPy functions (np.stack, np.mean) take Tensors."""
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}.")
        return self.data.item()

    def detach(self) -> "Tensor":
        """The same numbers, cut off from the graph (no gradient flows through the result)."""
        return Tensor._wrap(self.data)

    def backward(self, gradient=None, retain_graph: bool = False):
        """Gradients of this tensor with respect to every leaf that requires grad (module 05 computes them)."""
        if AUTOGRAD.backward is None:
            raise RuntimeError("Tensors have no gradients yet: run `tito module complete 05` to build autograd.")
        AUTOGRAD.backward(self, gradient, retain_graph)

    # --- arithmetic with broadcasting ----------------------------------------------------------
    @differentiable
    def __add__(self, other):
        # Hint: make `other` a Tensor with as_tensor(other, like=self) (a Python or NumPy number then
        # takes this tensor's dtype), add the two .data arrays, and wrap the result with Tensor._wrap.
        ### BEGIN SOLUTION
        other = as_tensor(other, like=self)
        return Tensor._wrap(self.data + other.data)
        ### END SOLUTION

    def __radd__(self, other):
        return as_tensor(other, like=self) + self

    @differentiable
    def __sub__(self, other):
        # Hint: as __add__, with - .
        ### BEGIN SOLUTION
        other = as_tensor(other, like=self)
        return Tensor._wrap(self.data - other.data)
        ### END SOLUTION

    def __rsub__(self, other):
        return as_tensor(other, like=self) - self

    @differentiable
    def __mul__(self, other):
        # Hint: as __add__, with * .
        ### BEGIN SOLUTION
        other = as_tensor(other, like=self)
        return Tensor._wrap(self.data * other.data)
        ### END SOLUTION

    def __rmul__(self, other):
        return as_tensor(other, like=self) * self

    @differentiable
    def __truediv__(self, other):
        # Hint: as __add__, with / .
        ### BEGIN SOLUTION
        other = as_tensor(other, like=self)
        return Tensor._wrap(self.data / other.data)
        ### END SOLUTION

    def __rtruediv__(self, other):
        return as_tensor(other, like=self) / self

    @differentiable
    def __neg__(self):
        return Tensor._wrap(-self.data)

    @differentiable
    def __pow__(self, exponent):
        if isinstance(exponent, Tensor):
            raise TypeError("Only a number can be an exponent here: write x ** 2, not x ** tensor.")
        # Hint: _power(self.data, e) computes the power; give it the exponent as an array of this
        # tensor's dtype, as_tensor(exponent, like=self).data, and wrap the result.
        ### BEGIN SOLUTION
        return Tensor._wrap(_power(self.data, as_tensor(exponent, like=self).data))
        ### END SOLUTION

    @differentiable
    def __matmul__(self, other):
        other = as_tensor(other, like=self)
        _check_matmul(self.shape, other.shape)
        # Hint: NumPy's @ on the two .data arrays, wrapped with Tensor._wrap.
        ### BEGIN SOLUTION
        return Tensor._wrap(self.data @ other.data)
        ### END SOLUTION

    def __rmatmul__(self, other):
        return as_tensor(other, like=self) @ self

    def matmul(self, other):
        """a.matmul(b) is a @ b: it goes through `__matmul__`, so it has whatever that has (gradients too)."""
        return self @ other

    # --- comparisons (never differentiable) ---------------------------------------------------
    def _compare(self, other, op):
        return Tensor._wrap(op(self.data, as_tensor(other, like=self).data))

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    def __eq__(self, other):
        return self._compare(other, np.equal)

    def __ne__(self, other):
        return self._compare(other, np.not_equal)

    # --- reductions ---------------------------------------------------------------------------
    @differentiable
    def sum(self, axis=None, keepdims: bool = False):
        # Hint: np.sum over self.data with both axis and keepdims passed on, wrapped, so that
        # x.sum(axis=1, keepdims=True) keeps a dimension of size 1 for broadcasting.
        ### BEGIN SOLUTION
        return Tensor._wrap(np.sum(self.data, axis=axis, keepdims=keepdims))
        ### END SOLUTION

    @differentiable
    def mean(self, axis=None, keepdims: bool = False):
        # Hint: np.mean with axis and keepdims, wrapped. The mean along an axis divides by that axis's
        # length, not by the whole size.
        ### BEGIN SOLUTION
        return Tensor._wrap(np.mean(self.data, axis=axis, keepdims=keepdims))
        ### END SOLUTION

    @differentiable
    def max(self, axis=None, keepdims: bool = False):
        # Hint: np.max with axis and keepdims, wrapped.
        ### BEGIN SOLUTION
        return Tensor._wrap(np.max(self.data, axis=axis, keepdims=keepdims))
        ### END SOLUTION

    # --- shape --------------------------------------------------------------------------------
    @differentiable
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        # Hint: self.data.reshape(shape), wrapped.
        ### BEGIN SOLUTION
        return Tensor._wrap(self.data.reshape(shape))
        ### END SOLUTION

    def transpose(self, dim0: int = -2, dim1: int = -1):
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return self.permute(*axes)

    @differentiable
    def permute(self, *dims):
        dims = _normalize_axes(dims, self.ndim)
        # Hint: np.transpose(self.data, dims) puts old axis dims[i] at position i; wrap it.
        ### BEGIN SOLUTION
        return Tensor._wrap(np.transpose(self.data, dims))
        ### END SOLUTION

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return self.reshape(_flatten_shape(self.shape, start_dim, end_dim))

    @differentiable
    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index.data
        # Hint: index self.data with `index` as NumPy does, and wrap the result.
        ### BEGIN SOLUTION
        return Tensor._wrap(self.data[index])
        ### END SOLUTION

    # --- elementwise functions ----------------------------------------------------------------
    @differentiable
    def exp(self):
        # Hint: np.exp on self.data, wrapped.
        ### BEGIN SOLUTION
        return Tensor._wrap(np.exp(self.data))
        ### END SOLUTION

    @differentiable
    def log(self):
        # Hint: np.log on self.data, wrapped.
        ### BEGIN SOLUTION
        return Tensor._wrap(np.log(self.data))
        ### END SOLUTION

    @differentiable
    def sqrt(self):
        # Hint: np.sqrt on self.data, wrapped.
        ### BEGIN SOLUTION
        return Tensor._wrap(np.sqrt(self.data))
        ### END SOLUTION

    @differentiable
    def abs(self):
        return Tensor._wrap(np.abs(self.data))

    def __abs__(self):
        """abs(x) is x.abs()."""
        return self.abs()

    @differentiable
    def clip(self, min=None, max=None):
        # Hint: np.clip(self.data, min, max), wrapped (None means no bound on that side).
        ### BEGIN SOLUTION
        return Tensor._wrap(np.clip(self.data, min, max))
        ### END SOLUTION


# %% [markdown]
# ## Unit tests
#
# Each test checks one promise of the class and prints what it verified. Run this file as a script
# (`python modules/01_tensor/tensor.py`) or let `tito module complete 01` run them with pytest.

# %%
def test_unit_creation():
    x = Tensor([[1, 2, 3], [4, 5, 6]])
    assert x.shape == (2, 3) and x.size == 6 and x.ndim == 2
    assert x.dtype == np.int64, "integer data stays integer"
    y = Tensor([1.5, 2.5])
    assert y.dtype == np.float32, "floating data becomes float32"
    z = Tensor(np.zeros(3), dtype=np.float64)
    assert z.dtype == np.float64, "an explicit dtype is kept"
    print("creation: shape, size, ndim; ints stay int64, floats become float32, explicit dtype kept")


def test_unit_arithmetic():
    a = Tensor([[1.0, 2.0], [3.0, 4.0]])
    b = Tensor([10.0, 20.0])
    assert np.array_equal((a + b).data, [[11, 22], [13, 24]]), "broadcasting a row over a matrix"
    assert np.array_equal((a - 1).data, [[0, 1], [2, 3]]) and np.array_equal((a + 1).data, [[2, 3], [4, 5]])
    assert (a + np.float64(0.5)).dtype == np.float32, "a NumPy float64 number takes the tensor's dtype (as_tensor)"
    assert np.array_equal((2 * a).data, [[2, 4], [6, 8]])
    assert np.allclose((1 / a).data, [[1, 0.5], [1 / 3, 0.25]])
    assert np.array_equal((a**2).data, [[1, 4], [9, 16]])
    assert np.array_equal((-a).data, -a.data)
    assert (a * 0.5).dtype == np.float32, "a Python float must not upcast float32"
    print("arithmetic: + - * / ** and negation broadcast like NumPy and keep float32")


def test_unit_matmul():
    a = Tensor(np.arange(6).reshape(2, 3), dtype=np.float32)
    b = Tensor(np.arange(12).reshape(3, 4), dtype=np.float32)
    assert np.array_equal((a @ b).data, a.data @ b.data)
    assert np.array_equal(a.matmul(b).data, (a @ b).data), "matmul is another spelling of @"
    try:
        a @ a
    except ValueError as error:
        assert "(2, 3)" in str(error), "the error names both shapes"
    else:
        raise AssertionError("mismatched shapes must raise")
    print("matmul: (2,3) @ (3,4) -> (2,4), also as a.matmul(b); mismatched shapes raise an error naming both")


def test_unit_reductions_and_shapes():
    x = Tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    assert x.sum().item() == 276.0
    assert x.mean(axis=(0, 2)).shape == (3,)
    assert np.allclose(x.mean(axis=0).data, x.data.mean(axis=0)), "the mean along an axis divides by its length"
    assert x.sum(axis=1, keepdims=True).shape == (2, 1, 4), "keepdims=True keeps the summed axis, with size 1"
    assert x.max(axis=-1, keepdims=True).shape == (2, 3, 1)
    assert x.reshape(6, 4).shape == (6, 4) and x.reshape((4, 6)).shape == (4, 6)
    assert x.transpose(0, 2).shape == (4, 3, 2)
    assert x.permute(2, 0, 1).shape == (4, 2, 3)
    assert x.flatten(1).shape == (2, 12) and x.flatten().shape == (24,)
    assert x[1, :, 0].data.tolist() == [12.0, 16.0, 20.0]
    print("reductions and shapes: sum/mean/max with axis, reshape, transpose, permute, flatten, slicing")


def test_unit_elementwise():
    x = Tensor([1.0, 4.0, 9.0])
    assert np.allclose(x.sqrt().data, [1, 2, 3])
    assert np.allclose(x.log().exp().data, x.data, rtol=1e-6)
    assert np.array_equal(Tensor([-2.0, 3.0]).abs().data, [2, 3])
    assert np.array_equal(x.clip(2, 5).data, [2, 4, 5])
    assert (x > 3).data.tolist() == [False, True, True]
    print("elementwise: sqrt, exp/log round trip, abs, clip, comparisons")


def test_unit_grad_and_format():
    w = Tensor([1.0, 2.0])
    w.grad = Tensor([0.5, 0.5])
    assert w.grad.data.tolist() == [0.5, 0.5]
    for wrong, error in ((np.array([0.5, 0.5]), TypeError), (Tensor([0.5, 0.5, 0.5]), ValueError)):
        try:
            w.grad = wrong
        except error as raised:
            assert "(2,)" in str(raised), "the message names the shape a gradient must have"
        else:
            raise AssertionError(f"assigning {type(wrong).__name__} of shape {wrong.shape} to grad must raise")
    assert w.grad.data.tolist() == [0.5, 0.5], "a refused assignment leaves the gradient as it was"
    assert f"{Tensor(2.0) / 3:.4f}" == "0.6667" and f"{Tensor([[0.25]]):.0%}" == "25%"
    print("grad: a Tensor of the tensor's shape, anything else refused at the assignment; f'{t:.4f}' formats one number")


if __name__ == "__main__":
    from tito.chapter import run_chapter

    run_chapter(globals())
