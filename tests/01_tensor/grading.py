"""Module 01 (tensor)'s graded checks: every Tensor operation the student writes, on random inputs.

One check per solution block, each on shapes and values drawn for the run. `tito grade` runs them on
the student's package in a sandbox and on the reference in its own process, and compares.
"""

from tito.grading.declare import check


def _shape(rng, low=1, high=5, ndim=None):
    ndim = int(rng.integers(1, 4)) if ndim is None else ndim
    return tuple(int(n) for n in rng.integers(low, high, size=ndim))


def _pair(rng):
    """Two float32 tensors' worth of data whose shapes broadcast: (a, b)."""
    from tinytorch import Tensor

    shape = _shape(rng, 2, 5, ndim=2)
    a = Tensor(rng.standard_normal(shape))
    b = Tensor(rng.standard_normal(shape[1:]) + 2.0)
    return a, b, float(rng.uniform(-3, 3))


@check()
def add(rng):
    "a + b broadcasts like NumPy; a Python number keeps float32."
    a, b, s = _pair(rng)
    return {"sum": (a + b).data, "plus_number": (a + s).data, "number_plus": (s + a).data, "dtype": str((a + s).dtype)}


@check()
def subtract(rng):
    "a - b broadcasts like NumPy, both ways round."
    a, b, s = _pair(rng)
    return {"difference": (a - b).data, "minus_number": (a - s).data, "number_minus": (s - a).data}


@check()
def multiply(rng):
    "a * b broadcasts like NumPy, both ways round."
    a, b, s = _pair(rng)
    return {"product": (a * b).data, "times_number": (a * s).data, "number_times": (s * a).data}


@check()
def divide(rng):
    "a / b broadcasts like NumPy, both ways round."
    a, b, s = _pair(rng)
    return {"quotient": (a / b).data, "over_number": (a / (abs(s) + 1)).data, "number_over": (s / b).data}


@check()
def power(rng):
    "x ** e for common and uncommon exponents."
    from tinytorch import Tensor

    x = Tensor(rng.uniform(0.5, 2.0, size=_shape(rng)))
    exponents = [2, 3, 0.5, -1, float(rng.uniform(-2.5, 2.5))]
    return {f"power_{i}": (x**e).data for i, e in enumerate(exponents)}


@check()
def matmul(rng):
    "a @ b for matrices, a batch of matrices and a vector."
    from tinytorch import Tensor

    n, k, m, batch = (int(v) for v in rng.integers(1, 6, size=4))
    a, b = Tensor(rng.standard_normal((n, k))), Tensor(rng.standard_normal((k, m)))
    stacked = Tensor(rng.standard_normal((batch, n, k)))
    vector = Tensor(rng.standard_normal(k))
    return {"matrix": (a @ b).data, "batched": (stacked @ b).data, "vector": (vector @ b).data}


def _reduction(rng, name):
    from tinytorch import Tensor

    x = Tensor(rng.standard_normal(_shape(rng, 2, 5, ndim=3)))
    axis = int(rng.integers(-3, 3))
    reduce = getattr(x, name)
    return {
        "all": reduce().data,
        "axis": reduce(axis=axis).data,
        "kept": reduce(axis=axis, keepdims=True).data,
        "two_axes": reduce(axis=(0, 2)).data,
    }


@check()
def sum_(rng):
    "sum over everything, one axis, two axes, with keepdims."
    return _reduction(rng, "sum")


@check()
def mean(rng):
    "mean over everything, one axis, two axes, with keepdims."
    return _reduction(rng, "mean")


@check()
def max_(rng):
    "max over everything, one axis, two axes, with keepdims."
    return _reduction(rng, "max")


@check()
def reshape(rng):
    "reshape to a tuple, to separate sizes and with -1; flatten."
    from tinytorch import Tensor

    rows, cols = (int(v) for v in rng.integers(2, 6, size=2))
    x = Tensor(rng.standard_normal((rows, cols, 2)))
    return {
        "tuple": x.reshape((cols, rows * 2)).data,
        "sizes": x.reshape(2, rows, cols).data,
        "inferred": x.reshape(-1, rows).data,
        "flat": x.flatten().data,
    }


@check()
def permute(rng):
    "permute in a random order; transpose and .T."
    from tinytorch import Tensor

    x = Tensor(rng.standard_normal(_shape(rng, 2, 5, ndim=3)))
    order = tuple(int(v) for v in rng.permutation(3))
    return {"permuted": x.permute(*order).data, "transposed": x.transpose(0, 2).data, "T": x.T.data}


@check()
def index(rng):
    "indexing with integers, slices, an index array and a mask."
    from tinytorch import Tensor

    x = Tensor(rng.standard_normal((5, 4, 3)))
    picks = rng.integers(0, 5, size=4)
    mask = x.data[:, 0, 0] > 0
    return {
        "integer": x[int(rng.integers(0, 5))].data,
        "slices": x[1:, ::2, -1].data,
        "array": x[picks].data,
        "tensor_index": x[Tensor(picks)].data,
        "mask": x[mask].data,
    }


def _elementwise(rng, name, low=-3.0, high=3.0):
    from tinytorch import Tensor

    x = Tensor(rng.uniform(low, high, size=_shape(rng)))
    return {name: getattr(x, name)().data}


@check()
def exp(rng):
    "exp, elementwise."
    return _elementwise(rng, "exp")


@check()
def log(rng):
    "log, elementwise."
    return _elementwise(rng, "log", 0.1, 10.0)


@check()
def sqrt(rng):
    "sqrt, elementwise."
    return _elementwise(rng, "sqrt", 0.0, 10.0)


@check()
def clip(rng):
    "clip with a lower bound, an upper bound and both."
    from tinytorch import Tensor

    x = Tensor(rng.standard_normal(_shape(rng)) * 3)
    low, high = sorted(float(v) for v in rng.uniform(-2, 2, size=2))
    return {"low": x.clip(min=low).data, "high": x.clip(max=high).data, "both": x.clip(low, high).data}
