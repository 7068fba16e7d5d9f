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
# 1. A `Function` is one operation: its forward value and its local derivative side by side.
# 2. `Function.apply` computes the value and, when gradients are wanted, remembers the inputs in a
#    graph node attached to the output.
# 3. `run_backward` visits the graph in reverse topological order and hands each node the gradient
#    of the loss with respect to its output; the node returns the gradients for its inputs.
# 4. `gradcheck` compares a backward rule against finite differences. It comes *before* the rules, so
#    that each rule you write is checked the moment it is written.
#
# **Your module 01 code keeps running.** This module adds no second forward pass. Each Function for
# a module 01 operation asks module 01's own method for the value (`module01_value("__mul__", a, b)`
# runs the `Tensor.__mul__` you wrote), and adds only the graph and the backward rule around it. At
# the end, `enable_autograd()` fills the hook that module 01's tensor.py declares (`AUTOGRAD`): every
# operation marked `@differentiable` there then runs through its Function here. No method of Tensor is
# replaced. `tinytorch/__init__.py` calls it once module 05 is exported: Python runs a package's
# `__init__.py` before any of its submodules, so every program that imports anything from tinytorch
# sees the same Tensor, with gradients, whatever it imported first. A bug in module 01 stays a bug in
# every later module, and its tests say so.
#
# **The systems view.** Backward costs about twice the forward pass (each matmul becomes two), and it
# needs the forward pass's intermediate arrays, so training holds every activation of the batch in
# memory until backward has used it. That is why `backward()` frees the saved arrays as it goes.

# %%
#| default_exp autograd.function

# %%
#| export
import functools

import numpy as np

from tinytorch.tensor import AUTOGRAD, Tensor, _normalize_axes, _power, as_tensor

# %% [markdown]
# ## Grad mode
#
# Evaluating a model needs no graph. `with no_grad():` turns recording off, saving the memory and time.

# %%
#| export autograd.function
#| doc Grad mode (no_grad) and Function, one differentiable operation: its value and its derivative side by side
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
# ## Function: the value and the derivative side by side
#
# `forward(*arrays)` computes the output from the inputs' arrays and saves what backward will need.
# `backward(grad)` receives dL/d(output) and returns dL/d(input) for each input. It may return the
# gradient in the broadcast shape of the output; the engine sums it back to each input's own shape
# (`unbroadcast`), once, so no operation has to think about broadcasting.
#
# For the operations module 01 teaches, the value is module 01's: `module01_value(name, *arrays)` calls
# your `Tensor.<name>` on the arrays and returns the Tensor it made (`module01(name)(tensor, shape)`
# where a method takes other arguments positionally, as `reshape` does). `module01(name)` is your method
# itself, the function under its `@differentiable` mark, so it never goes back through autograd.

# %%
#| export autograd.function
def module01(name: str):
    """Module 01's own `Tensor.<name>`, as the student wrote it: the code under its `@differentiable`."""
    operation = Tensor.__dict__[name]
    return getattr(operation, "__wrapped__", operation)


def module01_value(name: str, *arrays, **options) -> Tensor:
    """The value module 01 computes for `Tensor.<name>` on these arrays (options by keyword).

    This is the framework's one forward pass: autograd never computes a value a second way.
    """
    return module01(name)(*(Tensor._wrap(array) for array in arrays), **options)


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

    def forward(self, *arrays, **options):
        """The output, as an array or as the Tensor module 01's operation returned."""
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> tuple:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Tensor, **options) -> Tensor:
        """Run the operation on Tensors; record the graph node when a gradient may be needed."""
        node = cls()
        node.needs_input_grad = tuple(_GradMode.enabled and t.requires_grad for t in inputs)
        output = node.forward(*(t.data for t in inputs), **options)
        if not isinstance(output, Tensor):
            output = Tensor._wrap(output)
        elif output.requires_grad or output._grad_fn is not None:  # module 01 handed back an input
            output = Tensor._wrap(output.data)
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
# ## The backward pass
#
# Order matters: a node may only pass gradient to its inputs once it has received the gradient from
# every use of its output. Reverse topological order guarantees that. We compute it with an explicit
# stack rather than recursion, so a chain of 5,000 operations works where recursion would hit
# Python's limit, and every node is visited once however many paths lead to it.
#
# Write `run_backward` first: every check below goes through it.

# %%
#| export autograd.engine
#| doc The backward pass: walks the graph in reverse topological order and accumulates each leaf's gradient
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
        # Hint: ask the node for its inputs' gradients (node.backward(grad)); for each parent that
        # requires grad and got a gradient, unbroadcast it to the parent's shape and add it to
        # grads[id(parent)] (a parent reached by two paths receives the sum).
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
# ## gradcheck: finite differences as the oracle
#
# For a tiny step h, (f(x + h) - f(x - h)) / 2h approximates df/dx with an error proportional to h².
# In float64 with h = 1e-6 that is accurate to about 1e-8, far better than float32 could manage,
# which is why gradcheck insists on float64 inputs. A random projection of the output (a weighted sum
# with random weights) turns any output shape into one number, so a single backward pass, started
# with those weights as the output's gradient, gives the whole gradient to compare. gradcheck calls
# `run_backward` itself, so it checks a Function before anything is installed on Tensor.

# %%
#| export autograd.checking
#| doc gradcheck: compares backward rules with central finite differences
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
    if output.requires_grad:
        run_backward(output, weights.astype(output.dtype))
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
# The tests in this module check each rule on float64 inputs kept away from kinks. `_leaves` makes them.

# %%
def _leaves(*shapes, low=0.5, high=2.0, seed=0):
    """Random float64 tensors that require grad, one per shape, with values in [low, high)."""
    rng = np.random.default_rng(seed)
    return [Tensor(rng.uniform(low, high, shape), requires_grad=True, dtype=np.float64) for shape in shapes]


# %% [markdown]
# ## Arithmetic
#
# Each rule is the derivative you know from calculus, written for arrays. Addition and subtraction pass
# the gradient through (with a sign for the second input of a subtraction). For `out = a * b`:
# dL/da = dL/dout * b and dL/db = dL/dout * a, so the forward pass saves both inputs.

# %%
#| export autograd.ops
#| doc The differentiable Functions behind Tensor's operations (Add, Mul, MatMul, Sum, Reshape, GetItem, Exp, ...)
class Add(Function):
    def forward(self, a, b):
        return module01_value("__add__", a, b)

    def backward(self, grad):
        return grad, grad


class Sub(Function):
    def forward(self, a, b):
        return module01_value("__sub__", a, b)

    def backward(self, grad):
        return grad, -grad


class Neg(Function):
    def forward(self, a):
        return module01_value("__neg__", a)

    def backward(self, grad):
        return (-grad,)


class Mul(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return module01_value("__mul__", a, b)

    def backward(self, grad):
        # Hint: the saved inputs are (a, b); each input's gradient is grad times the other input.
        ### BEGIN SOLUTION
        a, b = self.saved
        return grad * b, grad * a
        ### END SOLUTION


# %%
def test_unit_add_sub_mul():
    a, b = _leaves((3, 4), (4,))
    assert gradcheck(lambda a, b: Add.apply(a, b), [a, b])
    assert gradcheck(lambda a, b: Sub.apply(a, b), [a, b])
    assert gradcheck(lambda a, b: Mul.apply(a, b), [a, b])
    assert gradcheck(lambda a: Neg.apply(a), [a])
    print("Add, Sub, Neg, Mul: backward agrees with finite differences, a (4,) row broadcast over (3, 4) included")


# %% [markdown]
# For `out = a / b`: dL/da = dL/dout / b and dL/db = -dL/dout * a / b². For `out = a ** p` with a constant
# exponent p: dL/da = dL/dout * p * a ** (p - 1). The exponent is not an input (it gets no gradient), so
# Pow's backward returns None in its place.

# %%
#| export autograd.ops
class Div(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return module01_value("__truediv__", a, b)

    def backward(self, grad):
        # Hint: the gradient for a is grad / b; for b it is -(grad / b) * a / b.
        ### BEGIN SOLUTION
        a, b = self.saved
        grad_a = grad / b
        return grad_a, -grad_a * a / b
        ### END SOLUTION


class Pow(Function):
    """a ** exponent for a constant exponent."""

    def forward(self, a, exponent):
        out = module01_value("__pow__", a, exponent=exponent)  # module 01 refuses a Tensor exponent first
        self.save_for_backward(a, np.asarray(exponent, dtype=a.dtype))  # a float32 x stays float32
        return out

    def backward(self, grad):
        # Hint: grad * exponent * a ** (exponent - 1), on arrays: `_power(a, exponent - 1)` from module 01
        # computes the power (fast for the common exponents).
        ### BEGIN SOLUTION
        a, exponent = self.saved
        return (grad * exponent * _power(a, exponent - 1),)
        ### END SOLUTION


# %%
def test_unit_div_pow():
    a, b = _leaves((2, 3), (2, 1), seed=1)
    assert gradcheck(lambda a, b: Div.apply(a, b), [a, b])
    for exponent in (2, 3, 0.5, -1, 1.5):
        assert gradcheck(lambda a: Pow.apply(a, exponent=exponent), [a])
    print("Div, Pow: backward agrees with finite differences for exponents 2, 3, 0.5, -1 and 1.5")


# %% [markdown]
# ## Matrix multiplication
#
# For `out = a @ b`: dL/da = dL/dout @ b.T and dL/db = a.T @ dL/dout (check the shapes: (N, K) @ (K, M)
# gives (N, M), and dL/dout @ b.T is (N, M) @ (M, K) = (N, K), a's shape). Batched matrices use their
# last two axes, so "transpose" means swapping those (`np.swapaxes(x, -1, -2)`). Vectors are treated as
# one-row or one-column matrices and the extra axis is dropped again afterwards (given code).

# %%
#| export autograd.ops
class MatMul(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return module01_value("__matmul__", a, b)

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
        # Hint: compute only the gradients that are needed: g2 @ (b2 with its last two axes swapped) for
        # a, (a2 with its last two axes swapped) @ g2 for b.
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


# %%
def test_unit_matmul():
    for a_shape, b_shape in (((3, 4), (4, 2)), ((4,), (4, 3)), ((3, 4), (4,)), ((2, 3, 4), (4, 2))):
        a, b = _leaves(a_shape, b_shape, low=-1.0, high=1.0, seed=2)
        assert gradcheck(lambda a, b: MatMul.apply(a, b), [a, b]), (a_shape, b_shape)
    print("MatMul: backward agrees with finite differences for matrices, vectors and a batch of matrices")


# %% [markdown]
# ## Reductions
#
# A sum copies its gradient back to every element it summed; a mean also divides by the count; a max
# sends the gradient to the element that won (shared equally between ties). When the reduced axes were
# dropped (`keepdims=False`), the gradient first gets them back as size-1 axes (`_expand_reduced`, given)
# so that it broadcasts against the input.

# %%
#| export autograd.ops
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
        return module01_value("sum", a, axis=axis, keepdims=keepdims)

    def backward(self, grad):
        shape, axis, keepdims = self.saved
        # Hint: expand the reduced axes back, then np.broadcast_to the input's shape.
        ### BEGIN SOLUTION
        return (np.broadcast_to(_expand_reduced(grad, shape, axis, keepdims), shape),)
        ### END SOLUTION


class Mean(Function):
    def forward(self, a, axis=None, keepdims=False):
        out = module01_value("mean", a, axis=axis, keepdims=keepdims)
        self.save_for_backward(a.shape, axis, keepdims, a.size // max(out.size, 1))
        return out

    def backward(self, grad):
        shape, axis, keepdims, count = self.saved
        # Hint: like Sum, divided by the number of elements each output averaged (count).
        ### BEGIN SOLUTION
        return (np.broadcast_to(_expand_reduced(grad, shape, axis, keepdims) / count, shape),)
        ### END SOLUTION


class Max(Function):
    def forward(self, a, axis=None, keepdims=False):
        out = module01_value("max", a, axis=axis, keepdims=keepdims)
        self.save_for_backward(a, _expand_reduced(out.data, a.shape, axis, keepdims), axis, keepdims)
        return out

    def backward(self, grad):
        a, out, axis, keepdims = self.saved
        # Hint: the winners are where a == out (out has the reduced axes as size 1); share the gradient
        # equally between the winners of each reduction.
        ### BEGIN SOLUTION
        winners = a == out
        share = winners / winners.sum(axis=axis, keepdims=True)
        return (_expand_reduced(grad, a.shape, axis, keepdims) * share,)
        ### END SOLUTION


# %%
def test_unit_reductions():
    (a,) = _leaves((2, 3, 4), seed=3)
    for axis in (None, 1, -1, (0, 2)):
        for keepdims in (False, True):
            assert gradcheck(lambda a: Sum.apply(a, axis=axis, keepdims=keepdims), [a])
            assert gradcheck(lambda a: Mean.apply(a, axis=axis, keepdims=keepdims), [a])
            assert gradcheck(lambda a: Max.apply(a, axis=axis, keepdims=keepdims), [a])
    tie = Tensor([[1.0, 3.0, 3.0]], requires_grad=True, dtype=np.float64)
    run_backward(Max.apply(tie, axis=1), np.ones(1))
    assert tie.grad.data.tolist() == [[0.0, 0.5, 0.5]], "two winners share the gradient"
    print("Sum, Mean, Max over every axis choice agree with finite differences; a tie splits the gradient")


# %% [markdown]
# ## Shapes and indexing
# Reshaping and permuting move numbers without changing them, so their backward passes move the
# gradient back. Indexing picks elements; its backward puts each gradient back where it was picked
# from, adding where the same element was picked twice.

# %%
#| export autograd.ops
class Reshape(Function):
    def forward(self, a, shape):
        self.save_for_backward(a.shape)
        return module01("reshape")(Tensor._wrap(a), *shape)  # (6, 4) or ((6, 4),): module 01 takes both

    def backward(self, grad):
        (shape,) = self.saved
        return (grad.reshape(shape),)


class Permute(Function):
    def forward(self, a, dims):
        self.save_for_backward(dims)
        return module01("permute")(Tensor._wrap(a), *dims)

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
        return module01("__getitem__")(Tensor._wrap(a), index)

    def backward(self, grad):
        shape, dtype, index = self.saved
        full = np.zeros(shape, dtype=dtype)
        if _is_basic_index(index):
            full[index] = grad
        else:
            np.add.at(full, index, grad)  # repeated indices must add up, which `full[index] += grad` would not
        return (full,)


# %%
def test_unit_shapes_and_indexing():
    (a,) = _leaves((2, 3, 4), seed=4)
    assert gradcheck(lambda a: Reshape.apply(a, shape=(6, 4)), [a])
    assert gradcheck(lambda a: Permute.apply(a, dims=(2, 0, 1)), [a])
    assert gradcheck(lambda a: GetItem.apply(a, index=(slice(None), [0, 2, 0])), [a])
    print("Reshape, Permute and indexing (a repeated index included) agree with finite differences")


# %% [markdown]
# ## Elementwise functions
# d/dx exp(x) = exp(x), which the forward pass already computed: save the output, not the input.
# d/dx log(x) = 1 / x. The rest are given: sqrt (1 / (2 sqrt x)), abs (the sign) and clip (1 inside the
# range, 0 outside).

# %%
#| export autograd.ops
class Exp(Function):
    def forward(self, a):
        out = module01_value("exp", a)
        self.save_for_backward(out.data)
        return out

    def backward(self, grad):
        # Hint: the saved output times grad.
        ### BEGIN SOLUTION
        (out,) = self.saved
        return (grad * out,)
        ### END SOLUTION


class Log(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return module01_value("log", a)

    def backward(self, grad):
        # Hint: grad divided by the saved input.
        ### BEGIN SOLUTION
        (a,) = self.saved
        return (grad / a,)
        ### END SOLUTION


class Sqrt(Function):
    def forward(self, a):
        out = module01_value("sqrt", a)
        self.save_for_backward(out.data)
        return out

    def backward(self, grad):
        (out,) = self.saved
        return (grad * 0.5 / out,)


class Abs(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return module01_value("abs", a)

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
        return module01_value("clip", a, min=low, max=high)

    def backward(self, grad):
        (inside,) = self.saved
        return (grad * inside,)


# %%
def test_unit_elementwise():
    (a,) = _leaves((3, 4), seed=5)
    for function in (Exp, Log, Sqrt, Abs):
        assert gradcheck(lambda a: function.apply(a), [a]), function.__name__
    assert gradcheck(lambda a: Clip.apply(a, low=0.9, high=1.6), [a])
    print("Exp, Log, Sqrt, Abs and Clip agree with finite differences")


# %% [markdown]
# ## Filling the hook in module 01
#
# Module 01's tensor.py declares `AUTOGRAD`, and each of its `@differentiable` operations calls
# `AUTOGRAD.record(name, tensor, *args)` once the hook is filled. `record` below hands the call to the
# operation's Function, which calls your module 01 method for the value. Module 01's checks (shapes
# for matmul, a number as the exponent, the forms of a shape) run there, in your method, so the table
# repeats none of them: it only hands each Function its arguments.

# %%
#| export autograd.install
#| doc Fills the hook that module 01's Tensor declares, so that its operations record a graph
def _binary(function):
    def operation(self, other):
        return function.apply(self, as_tensor(other, like=self))

    return operation


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
    "__pow__": lambda self, exponent: Pow.apply(self, exponent=exponent),
    "__matmul__": _binary(MatMul),
    "sum": lambda self, axis=None, keepdims=False: Sum.apply(self, axis=axis, keepdims=keepdims),
    "mean": lambda self, axis=None, keepdims=False: Mean.apply(self, axis=axis, keepdims=keepdims),
    "max": lambda self, axis=None, keepdims=False: Max.apply(self, axis=axis, keepdims=keepdims),
    "reshape": lambda self, *shape: Reshape.apply(self, shape=shape),
    "permute": lambda self, *dims: Permute.apply(self, dims=_normalize_axes(dims, self.ndim)),
    "__getitem__": _getitem,
    "exp": lambda self: Exp.apply(self),
    "log": lambda self: Log.apply(self),
    "sqrt": lambda self: Sqrt.apply(self),
    "abs": lambda self: Abs.apply(self),
    "clip": lambda self, min=None, max=None: Clip.apply(self, low=min, high=max),
}


def record(name: str, tensor: Tensor, *args, **kwargs) -> Tensor:
    """Run `tensor.<name>(*args, **kwargs)` through its Function: module 01's value, and a graph node."""
    return DIFFERENTIABLE_OPERATIONS[name](tensor, *args, **kwargs)


def enable_autograd() -> None:
    """Fill module 01's hook: Tensor's operations record graphs, `backward()` walks them. Idempotent;
    tinytorch/__init__.py calls it once."""
    AUTOGRAD.record = record
    AUTOGRAD.backward = _backward


# %% [markdown]
# The last tests run with this file's operations in the hook, and put back what was there afterwards:
# importing this file (pytest does, next to the package tests) must not change Tensor for anyone else.

# %%
def _with_this_files_autograd(test):
    """Run `test` with this file's operations in module 01's hook, then put back the previous ones."""

    @functools.wraps(test)
    def run():
        previous = AUTOGRAD.record, AUTOGRAD.backward
        enable_autograd()
        try:
            return test()
        finally:
            AUTOGRAD.record, AUTOGRAD.backward = previous

    return run


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
def test_unit_installed_operations_compose():
    rng = np.random.default_rng(1)
    a = Tensor(rng.uniform(0.5, 2.0, (3, 4)), requires_grad=True, dtype=np.float64)
    b = Tensor(rng.uniform(0.5, 2.0, (4, 2)), requires_grad=True, dtype=np.float64)
    assert gradcheck(lambda a, b: (a @ b).exp().log() / (a.sum() + 1.0), [a, b])
    assert gradcheck(lambda a: a.reshape(2, 6).permute(1, 0)[1:4].max(axis=1).sqrt(), [a])
    print("installed on Tensor: matmul, exp, log, div, sum, reshape, permute, slicing, max and sqrt compose")


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
    from tito.chapter import run_chapter

    run_chapter(globals())
