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
# # Module 05: Autograd
#
# Training means nudging every weight against the gradient of the loss. Writing those gradients by hand
# for each network would be hopeless; instead we record how each tensor was computed and apply the
# chain rule backwards, mechanically. That is reverse-mode automatic differentiation, and after this
# module every Tensor operation from module 01 (and so every layer and loss from modules 02-04) has a
# gradient.
#
# The plan:
# 1. A `Function` is one operation with its forward computation and its local derivative side by side.
# 2. `Function.apply` runs the forward pass and, when gradients are wanted, remembers the inputs in a
#    graph node attached to the output.
# 3. `Tensor.backward()` visits the graph in reverse topological order and hands each node the gradient
#    of the loss with respect to its output; the node returns the gradients for its inputs.
# 4. `gradcheck` compares every backward rule against finite differences, the oracle for all the
#    modules that follow.
#
# **How module 01's Tensor gains gradients.** Module 01 wrote plain forward operations. This module
# ends with `enable_autograd()`, which replaces each Tensor operation by its differentiable Function.
# It is called in exactly one place, the bottom of `tinytorch/__init__.py`, as soon as this module is
# exported. Because Python runs a package's `__init__.py` before any of its submodules, every program
# that imports anything from tinytorch sees the same Tensor, with gradients, whatever it imported first.
#
# **The systems view.** Backward costs about twice the forward pass (each matmul becomes two), and it
# needs the forward pass's intermediate arrays, so training holds every activation of the batch in
# memory until backward has used it. That is why `backward()` frees the saved arrays as it goes.

# %%
#| default_exp core.autograd

# %%
#| export
import functools

import numpy as np

from tinytorch.core.tensor import Tensor, _check_matmul, _flatten_shape, _normalize_axes, _power, as_tensor

# %% [markdown]
# ## Grad mode
#
# Evaluating a model needs no graph. `with no_grad():` turns recording off, saving the memory and time.

# %%
#| export
class _GradMode:
    enabled = True


def is_grad_enabled() -> bool:
    return _GradMode.enabled


class no_grad:
    """Turn graph recording off inside a `with` block, or for a whole function used as a decorator."""

    def __enter__(self):
        self._previous = _GradMode.enabled
        _GradMode.enabled = False
        return self

    def __exit__(self, *exc_info):
        _GradMode.enabled = self._previous
        return False

    def __call__(self, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with no_grad():
                return function(*args, **kwargs)

        return wrapper


# %% [markdown]
# ## Function: forward and backward side by side
#
# `backward(grad)` receives dL/d(output) and returns dL/d(input) for each input. It may return the
# gradient in the broadcast shape of the output; the engine sums it back to each input's own shape
# (`unbroadcast`), once, so no operation has to think about broadcasting.

# %%
#| export
class Function:
    """One differentiable operation. Subclasses define `forward` on arrays and `backward` on arrays."""

    def __init__(self):
        self.parents: tuple = ()
        self.saved: tuple = ()
        self.freed = False
        # One flag per input, set before forward runs, so an operation can skip work (and memory) for
        # inputs nobody needs a gradient for: a network's first layer never needs dL/d(images).
        self.needs_input_grad: tuple = ()

    def save_for_backward(self, *values):
        self.saved = values

    def forward(self, *arrays, **options) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> tuple:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Tensor, **options) -> Tensor:
        """Run the operation on Tensors; record the graph node when a gradient may be needed."""
        node = cls()
        node.needs_input_grad = tuple(_GradMode.enabled and t.requires_grad for t in inputs)
        output = Tensor._wrap(node.forward(*(t.data for t in inputs), **options))
        if any(node.needs_input_grad):
            node.parents = inputs
            output.requires_grad = True
            output._grad_fn = node
        return output


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum `grad` down to `shape`, undoing NumPy broadcasting (the transpose of broadcasting is a sum)."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)


# %% [markdown]
# ## The operations
#
# Each rule is the derivative you know from calculus, written for arrays. For `out = a * b`:
# dL/da = dL/dout * b. For `out = a @ b`: dL/da = dL/dout @ b.T and dL/db = a.T @ dL/dout.

# %%
#| export
class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, grad):
        return grad, grad


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, grad):
        return grad, -grad


class Mul(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, grad):
        ### BEGIN SOLUTION
        a, b = self.saved
        return grad * b, grad * a
        ### END SOLUTION


class Div(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, grad):
        ### BEGIN SOLUTION
        a, b = self.saved
        grad_a = grad / b
        return grad_a, -grad_a * a / b
        ### END SOLUTION


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, grad):
        return (-grad,)


class Pow(Function):
    """a ** exponent for a constant exponent."""

    def forward(self, a, exponent):
        self.save_for_backward(a, exponent)
        return _power(a, exponent)

    def backward(self, grad):
        ### BEGIN SOLUTION
        a, exponent = self.saved
        return grad * exponent * _power(a, exponent - 1), None
        ### END SOLUTION


class MatMul(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a @ b

    def backward(self, grad):
        a, b = self.saved
        if a.ndim == 1 and b.ndim == 1:
            return grad * b, grad * a
        # Treat vectors as matrices with one row (a) or one column (b), then drop that axis again.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = grad
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        need_a, need_b = self.needs_input_grad
        grad_a = grad_b = None
        ### BEGIN SOLUTION
        if need_a:
            grad_a = g2 @ np.swapaxes(b2, -1, -2)
        if need_b:
            grad_b = np.swapaxes(a2, -1, -2) @ g2
        ### END SOLUTION
        if grad_a is not None and a.ndim == 1:
            grad_a = grad_a.squeeze(-2)
        if grad_b is not None and b.ndim == 1:
            grad_b = grad_b.squeeze(-1)
        return grad_a, grad_b


# %% [markdown]
# ### Reductions
# A sum copies its gradient back to every element it summed; a mean also divides by the count; a max
# sends the gradient to the element that won (shared equally between ties).

# %%
#| export
def _expand_reduced(grad, shape, axis, keepdims):
    """Give a reduced gradient back the reduced axes (as size 1) so it broadcasts against the input."""
    if axis is None:
        return np.reshape(grad, (1,) * len(shape)) if not keepdims else grad
    if not keepdims:
        axes = (axis,) if np.isscalar(axis) else tuple(axis)
        grad = np.expand_dims(grad, tuple(a % len(shape) for a in axes))
    return grad


class Sum(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.save_for_backward(a.shape, axis, keepdims)
        return np.sum(a, axis=axis, keepdims=keepdims)

    def backward(self, grad):
        shape, axis, keepdims = self.saved
        ### BEGIN SOLUTION
        return (np.broadcast_to(_expand_reduced(grad, shape, axis, keepdims), shape),)
        ### END SOLUTION


class Mean(Function):
    def forward(self, a, axis=None, keepdims=False):
        out = np.mean(a, axis=axis, keepdims=keepdims)
        self.save_for_backward(a.shape, axis, keepdims, a.size // max(np.size(out), 1))
        return out

    def backward(self, grad):
        shape, axis, keepdims, count = self.saved
        ### BEGIN SOLUTION
        return (np.broadcast_to(_expand_reduced(grad, shape, axis, keepdims) / count, shape),)
        ### END SOLUTION


class Max(Function):
    def forward(self, a, axis=None, keepdims=False):
        out = np.max(a, axis=axis, keepdims=True)
        self.save_for_backward(a, out, axis, keepdims)
        return out if keepdims else np.squeeze(out, axis=axis)

    def backward(self, grad):
        a, out, axis, keepdims = self.saved
        ### BEGIN SOLUTION
        winners = a == out
        share = winners / winners.sum(axis=axis, keepdims=True)
        return (_expand_reduced(grad, a.shape, axis, keepdims) * share,)
        ### END SOLUTION


# %% [markdown]
# ### Shapes and indexing
# Reshaping and permuting move numbers without changing them, so their backward passes move the
# gradient back. Indexing picks elements; its backward puts each gradient back where it was picked
# from, adding where the same element was picked twice.

# %%
#| export
class Reshape(Function):
    def forward(self, a, shape):
        self.save_for_backward(a.shape)
        return a.reshape(shape)

    def backward(self, grad):
        (shape,) = self.saved
        return (grad.reshape(shape),)


class Permute(Function):
    def forward(self, a, dims):
        self.save_for_backward(dims)
        return np.transpose(a, dims)

    def backward(self, grad):
        (dims,) = self.saved
        return (np.transpose(grad, np.argsort(dims)),)


def _is_basic_index(index) -> bool:
    """Slices, integers, None and Ellipsis never select an element twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (slice, int, np.integer, type(None), type(Ellipsis))) for p in parts)


class GetItem(Function):
    def forward(self, a, index):
        self.save_for_backward(a.shape, a.dtype, index)
        return a[index]

    def backward(self, grad):
        shape, dtype, index = self.saved
        full = np.zeros(shape, dtype=dtype)
        if _is_basic_index(index):
            full[index] = grad
        else:
            np.add.at(full, index, grad)  # repeated indices must add up, which `full[index] += grad` would not
        return (full,)


# %% [markdown]
# ### Elementwise functions

# %%
#| export
class Exp(Function):
    def forward(self, a):
        out = np.exp(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        ### BEGIN SOLUTION
        (out,) = self.saved
        return (grad * out,)
        ### END SOLUTION


class Log(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return np.log(a)

    def backward(self, grad):
        ### BEGIN SOLUTION
        (a,) = self.saved
        return (grad / a,)
        ### END SOLUTION


class Sqrt(Function):
    def forward(self, a):
        out = np.sqrt(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved
        return (grad * 0.5 / out,)


class Abs(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return np.abs(a)

    def backward(self, grad):
        (a,) = self.saved
        return (grad * np.sign(a),)


class Clip(Function):
    """Clamp into [low, high]; the gradient flows only where the input was inside the range."""

    def forward(self, a, low=None, high=None):
        inside = np.ones(a.shape, dtype=bool)
        if low is not None:
            inside &= a >= low
        if high is not None:
            inside &= a <= high
        self.save_for_backward(inside)
        return np.clip(a, low, high)

    def backward(self, grad):
        (inside,) = self.saved
        return (grad * inside,)


# %% [markdown]
# ## The backward pass
#
# Order matters: a node may only pass gradient to its inputs once it has received the gradient from
# every use of its output. Reverse topological order guarantees that. We compute it with an explicit
# stack rather than recursion, so a chain of 5,000 operations works where recursion would hit
# Python's limit, and every node is visited once however many paths lead to it.

# %%
#| export
def topological_order(root: Tensor) -> list:
    """Tensors of the graph behind `root`, every tensor after all the tensors it was computed from."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        tensor, children_done = stack.pop()
        if children_done:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        node = tensor._grad_fn
        if node is not None:
            for parent in node.parents:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def run_backward(root: Tensor, gradient: np.ndarray, retain_graph: bool = False) -> None:
    """Propagate `gradient` (dL/d root) to every leaf tensor that requires grad."""
    grads = {id(root): gradient}
    for tensor in reversed(topological_order(root)):
        grad = grads.pop(id(tensor), None)
        if grad is None:
            continue
        node = tensor._grad_fn
        if node is None:  # a leaf: accumulate, as PyTorch does across backward calls
            if tensor.grad is None:
                tensor.grad = Tensor._wrap(np.array(grad, dtype=tensor.dtype))
            else:
                tensor.grad = Tensor._wrap((tensor.grad.data + grad).astype(tensor.dtype, copy=False))
            continue
        if node.freed:
            raise RuntimeError(
                "backward() through this graph a second time: its saved arrays were freed. "
                "Pass retain_graph=True to the first backward() if you need two."
            )
        ### BEGIN SOLUTION
        parent_grads = node.backward(grad)
        for parent, parent_grad in zip(node.parents, parent_grads):
            if parent_grad is None or not parent.requires_grad:
                continue
            parent_grad = unbroadcast(np.asarray(parent_grad), parent.shape)
            key = id(parent)
            grads[key] = parent_grad if key not in grads else grads[key] + parent_grad
        ### END SOLUTION
        if not retain_graph:
            node.saved, node.freed = (), True


def _backward(self: Tensor, gradient=None, retain_graph: bool = False) -> None:
    """Compute the gradient of this tensor with respect to every leaf that requires grad."""
    if not self.requires_grad:
        raise RuntimeError(
            "backward() on a tensor that does not require grad: create the inputs with requires_grad=True "
            "(layers' parameters already do), and do not compute the loss under no_grad()."
        )
    if gradient is None:
        if self.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a single number, this tensor has shape {self.shape}: "
                "reduce it first (.sum() or .mean()) or pass gradient=."
            )
        gradient = np.ones_like(self.data)
    else:
        gradient = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient, dtype=self.dtype)
        if gradient.shape != self.shape:
            raise ValueError(f"backward(gradient) needs shape {self.shape}, got {gradient.shape}.")
    run_backward(self, gradient, retain_graph)


# %% [markdown]
# ## Installing the Functions on Tensor
#
# Each Tensor operation becomes a call to its Function. Module 01's checks (shapes for matmul, dims for
# permute, scalars adopting the tensor's dtype) run first, exactly as before.

# %%
#| export
def _binary(function):
    def operation(self, other):
        return function.apply(self, as_tensor(other, like=self))

    return operation


def _matmul(self, other):
    other = as_tensor(other, like=self)
    _check_matmul(self.shape, other.shape)
    return MatMul.apply(self, other)


def _pow(self, exponent):
    if isinstance(exponent, Tensor):
        raise TypeError("Only a number can be an exponent here: write x ** 2, not x ** tensor.")
    return Pow.apply(self, exponent=as_tensor(exponent, like=self).data)


def _reshape(self, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape.apply(self, shape=shape)


def _getitem(self, index):
    if isinstance(index, Tensor):
        index = index.data
    return GetItem.apply(self, index=index)


DIFFERENTIABLE_OPERATIONS = {
    "__add__": _binary(Add),
    "__sub__": _binary(Sub),
    "__mul__": _binary(Mul),
    "__truediv__": _binary(Div),
    "__neg__": lambda self: Neg.apply(self),
    "__pow__": _pow,
    "__matmul__": _matmul,
    "sum": lambda self, axis=None, keepdims=False: Sum.apply(self, axis=axis, keepdims=keepdims),
    "mean": lambda self, axis=None, keepdims=False: Mean.apply(self, axis=axis, keepdims=keepdims),
    "max": lambda self, axis=None, keepdims=False: Max.apply(self, axis=axis, keepdims=keepdims),
    "reshape": _reshape,
    "permute": lambda self, *dims: Permute.apply(self, dims=_normalize_axes(dims, self.ndim)),
    "__getitem__": _getitem,
    "exp": lambda self: Exp.apply(self),
    "log": lambda self: Log.apply(self),
    "sqrt": lambda self: Sqrt.apply(self),
    "abs": lambda self: Abs.apply(self),
    "clip": lambda self, min=None, max=None: Clip.apply(self, low=min, high=max),
    "backward": _backward,
}


def enable_autograd() -> None:
    """Make every Tensor operation differentiable. Idempotent; tinytorch/__init__.py calls it once."""
    for name, operation in DIFFERENTIABLE_OPERATIONS.items():
        setattr(Tensor, name, operation)
    Tensor.autograd_enabled = True


# %% [markdown]
# ## gradcheck: finite differences as the oracle
#
# For a tiny step h, (f(x + h) - f(x - h)) / 2h approximates df/dx with an error proportional to h².
# In float64 with h = 1e-6 that is accurate to about 1e-8, far better than float32 could manage,
# which is why gradcheck insists on float64 inputs. A random projection of the output turns any
# output shape into one number, so a single backward pass gives the whole gradient to compare.

# %%
#| export
class GradcheckError(AssertionError):
    """A backward rule disagrees with finite differences; the message says where and by how much."""


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check fn's backward pass against central differences for every input that requires grad."""
    inputs = list(inputs)
    for position, x in enumerate(inputs):
        if x.dtype != np.float64:
            raise ValueError(
                f"gradcheck input {position} is {x.dtype}: use float64 (Tensor(..., dtype=np.float64), "
                "module.double()), or finite differences drown in rounding error."
            )
        x.grad = None
    name = getattr(fn, "__name__", type(fn).__name__)
    output = fn(*inputs)
    weights = np.random.default_rng(seed).standard_normal(output.shape)
    (output * Tensor(weights, dtype=np.float64)).sum().backward()
    analytic = [None if x.grad is None else x.grad.data.copy() for x in inputs]

    def projected() -> float:
        with no_grad():
            return float(np.sum(fn(*inputs).data * weights))

    for position, x in enumerate(inputs):
        if not x.requires_grad:
            continue
        received_all = analytic[position] if analytic[position] is not None else np.zeros(x.shape)
        for flat in range(x.size):
            index = np.unravel_index(flat, x.shape)
            original = x.data[index]
            x.data[index] = original + eps
            plus = projected()
            x.data[index] = original - eps
            minus = projected()
            x.data[index] = original
            expected = (plus - minus) / (2 * eps)
            received = float(received_all[index])
            if abs(expected - received) > atol + rtol * abs(expected):
                raise GradcheckError(
                    f"gradcheck failed for {name}: input {position}, index {tuple(int(i) for i in index)}: "
                    f"expected {expected:.6g} (finite differences), received {received:.6g} (backward)."
                )
    return True


# %% [markdown]
# ## Unit tests
#
# The tests below must exercise the code in this file, not an older exported copy. So each one runs
# with this file's Functions installed on Tensor, and puts back what was there afterwards: importing
# this file (pytest does, next to the package tests) must not change Tensor for anyone else.

# %%
def _with_this_files_autograd(test):
    """Run `test` with this file's operations installed on Tensor, then restore the previous ones."""

    @functools.wraps(test)
    def run():
        previous = {name: getattr(Tensor, name) for name in DIFFERENTIABLE_OPERATIONS}
        enable_autograd()
        try:
            return test()
        finally:
            for name, operation in previous.items():
                setattr(Tensor, name, operation)

    return run


# %%
@_with_this_files_autograd
def test_unit_simple_gradients():
    x = Tensor([2.0, 3.0], requires_grad=True, dtype=np.float64)
    y = (x * x * 3 + x).sum()  # dy/dx = 6x + 1
    y.backward()
    assert np.allclose(x.grad.data, [13.0, 19.0])
    print("gradients: d/dx sum(3x^2 + x) = 6x + 1 at x = [2, 3] gives [13, 19]")


@_with_this_files_autograd
def test_unit_diamond_graph():
    x = Tensor([1.5], requires_grad=True, dtype=np.float64)
    y = x * x + x * x  # two paths into x; the exact gradient is 4x
    y.backward(np.ones(1))
    assert x.grad.data[0] == 6.0
    print("diamond: y = x*x + x*x gives exactly 4x = 6 at x = 1.5 (each path counted once)")


@_with_this_files_autograd
def test_unit_broadcasting_gradient():
    w = Tensor(np.ones((3, 4)), requires_grad=True, dtype=np.float64)
    b = Tensor(np.zeros(4), requires_grad=True, dtype=np.float64)
    (w + b).sum().backward()
    assert b.grad.shape == (4,) and np.allclose(b.grad.data, 3.0)
    print("broadcasting: a bias added to 3 rows receives the sum of 3 row gradients, in its own shape (4,)")


@_with_this_files_autograd
def test_unit_gradcheck_ops():
    rng = np.random.default_rng(1)
    a = Tensor(rng.uniform(0.5, 2.0, (3, 4)), requires_grad=True, dtype=np.float64)
    b = Tensor(rng.uniform(0.5, 2.0, (4, 2)), requires_grad=True, dtype=np.float64)
    assert gradcheck(lambda a, b: (a @ b).exp().log() / (a.sum() + 1.0), [a, b])
    assert gradcheck(lambda a: a.reshape(2, 6).permute(1, 0)[1:4].max(axis=1).sqrt(), [a])
    print("gradcheck: matmul, exp, log, div, sum, reshape, permute, slicing, max and sqrt agree with finite differences")


@_with_this_files_autograd
def test_unit_no_grad():
    x = Tensor([1.0], requires_grad=True)
    with no_grad():
        y = x * 2
    assert not y.requires_grad and y._grad_fn is None
    print("no_grad: nothing is recorded inside the block")


@_with_this_files_autograd
def test_unit_long_chain_and_accumulation():
    x = Tensor([1.0], requires_grad=True, dtype=np.float64)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.backward(retain_graph=True)
    once = x.grad.item()
    assert abs(once - 1.0001**5000) < 1e-9 * once
    y.backward()  # the graph was kept, so a second pass works, and gradients add up
    assert x.grad.item() == 2 * once
    print("a chain of 5,000 multiplications runs backward (no recursion); retain_graph lets a second pass accumulate")


if __name__ == "__main__":
    for test in (
        test_unit_simple_gradients,
        test_unit_diamond_graph,
        test_unit_broadcasting_gradient,
        test_unit_gradcheck_ops,
        test_unit_no_grad,
        test_unit_long_chain_and_accumulation,
    ):
        test()
    print("Module 05: all inline tests passed.")
