"""Module 05 (autograd)'s graded checks: gradients through each operation, through Tensor.backward().

Every check computes (f(inputs) * w).sum() for random float64 inputs and a random weight w, calls
backward() and returns the inputs' gradients: a product with a random w tests the whole Jacobian,
not one row of it. Graded on the reference modules 01-04 (Tensor, activations, layers, losses).
"""

import numpy as np

from tito.grading.declare import check


def _leaf(rng, shape, low=None, high=None):
    from tinytorch import Tensor

    values = rng.standard_normal(shape) if low is None else rng.uniform(low, high, size=shape)
    return Tensor(values, requires_grad=True, dtype=np.float64)


def _backward(rng, output, *inputs):
    """Gradients of sum(output * w) with respect to `inputs`, for a random w."""
    from tinytorch import Tensor

    (output * Tensor(rng.standard_normal(output.shape), dtype=np.float64)).sum().backward()
    return [x.grad.data for x in inputs]


@check()
def multiply(rng):
    "d(a * b), with b broadcast over a's rows."
    a, b = _leaf(rng, (3, 4)), _leaf(rng, (4,))
    da, db = _backward(rng, a * b, a, b)
    return {"da": da, "db": db}


@check()
def divide(rng):
    "d(a / b), with b broadcast, and d(c / a) for a number c."
    a, b = _leaf(rng, (3, 4)), _leaf(rng, (1, 4), 1.0, 3.0)
    da, db = _backward(rng, a / b, a, b)
    c = _leaf(rng, (5,), 1.0, 2.0)
    (dc,) = _backward(rng, 2.5 / c, c)
    return {"da": da, "db": db, "dc": dc}


@check()
def power(rng):
    "d(x ** e) for several exponents."
    grads = {}
    for i, exponent in enumerate([2, 3, 0.5, -1, float(rng.uniform(-2, 3))]):
        x = _leaf(rng, (4,), 0.5, 2.0)
        (grads[f"exponent_{i}"],) = _backward(rng, x**exponent, x)
    return grads


@check(weight=2)
def matmul(rng):
    "d(a @ b) for matrices, a batch of matrices, and vectors."
    n, k, m = (int(v) for v in rng.integers(1, 5, size=3))
    a, b = _leaf(rng, (n, k)), _leaf(rng, (k, m))
    da, db = _backward(rng, a @ b, a, b)
    batch, shared = _leaf(rng, (2, n, k)), _leaf(rng, (k, m))
    dbatch, dshared = _backward(rng, batch @ shared, batch, shared)
    v, w = _leaf(rng, (k,)), _leaf(rng, (k, m))
    dv, dw = _backward(rng, v @ w, v, w)
    return {"da": da, "db": db, "dbatch": dbatch, "dshared": dshared, "dv": dv, "dw": dw}


def _reduction(rng, name):
    grads = {}
    for key, options in {
        "all": {},
        "axis": {"axis": 1},
        "kept": {"axis": -1, "keepdims": True},
        "axes": {"axis": (0, 2)},
    }.items():
        x = _leaf(rng, (2, 3, 4))
        (grads[key],) = _backward(rng, getattr(x, name)(**options), x)
    return grads


@check()
def sum_(rng):
    "d(x.sum()) over everything, an axis, with keepdims, two axes."
    return _reduction(rng, "sum")


@check()
def mean(rng):
    "d(x.mean()) over everything, an axis, with keepdims, two axes."
    return _reduction(rng, "mean")


@check()
def max_(rng):
    "d(x.max()) flows to the winners (shared equally between ties)."
    grads = _reduction(rng, "max")
    from tinytorch import Tensor

    tied = Tensor(
        np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]) * rng.uniform(1, 2), requires_grad=True, dtype=np.float64
    )
    (grads["ties"],) = _backward(rng, tied.max(axis=1), tied)
    return grads


@check()
def exp(rng):
    "d(exp(x))."
    x = _leaf(rng, (3, 4))
    return {"dx": _backward(rng, x.exp(), x)[0]}


@check()
def log(rng):
    "d(log(x))."
    x = _leaf(rng, (3, 4), 0.2, 5.0)
    return {"dx": _backward(rng, x.log(), x)[0]}


@check(weight=2)
def backward_through_a_graph(rng):
    "backward() sums the gradients of every path (a diamond, a reused input, a layer and a loss)."
    from tinytorch import Tensor
    from tinytorch.nn import Linear
    from tinytorch.nn.functional import cross_entropy, sigmoid

    x = _leaf(rng, (4,))
    y = x * x + x * 3.0 - x / 2.0  # three paths into x
    (dx,) = _backward(rng, y, x)
    layer = Linear(4, 3).double()
    layer.weight.data[...] = rng.standard_normal((3, 4))
    layer.bias.data[...] = rng.standard_normal(3)
    inputs = Tensor(rng.standard_normal((5, 4)), dtype=np.float64)
    loss = cross_entropy(sigmoid(layer(inputs)) * 4.0, rng.integers(0, 3, size=5))
    loss.backward()
    return {"dx": dx, "loss": loss.data, "dweight": layer.weight.grad.data, "dbias": layer.bias.grad.data}
