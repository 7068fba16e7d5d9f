"""Module 02 (activations)'s graded checks: each activation on random scores, extremes included.

Graded on the reference Tensor (module 01). The inputs mix ordinary scores with values of +-1000,
where a formula that is not written stably overflows.
"""

from tito.grading.declare import check


def _scores(rng, scale=4.0):
    """Float32 scores with a few extremes, shape (rows, cols)."""
    from tinytorch.core.tensor import Tensor

    rows, cols = (int(v) for v in rng.integers(2, 7, size=2))
    values = rng.standard_normal((rows, cols)) * scale
    values[rng.integers(0, rows), rng.integers(0, cols)] = 1000.0
    values[rng.integers(0, rows), rng.integers(0, cols)] = -1000.0
    return Tensor(values)


def _run(name, rng, **options):
    import numpy as np

    from tinytorch.core import activations

    x = _scores(rng)
    with np.errstate(all="ignore"):
        out = getattr(activations, name)(x, **options)
    return {"out": out.data, "dtype": str(out.dtype)}


@check()
def relu(rng):
    "relu(x) = max(x, 0), float32 kept."
    return _run("relu", rng)


@check()
def sigmoid(rng):
    "sigmoid(x), exact 0 and 1 at -1000 and 1000."
    return _run("sigmoid", rng)


@check()
def softplus(rng):
    "softplus(x) = log(1 + exp(x)), without overflow at 1000."
    return _run("softplus", rng)


@check()
def tanh(rng):
    "tanh(x), exact -1 and 1 at the extremes."
    return _run("tanh", rng)


@check()
def gelu(rng):
    "gelu(x), the tanh approximation."
    return _run("gelu", rng)


@check()
def softmax(rng):
    "softmax(x, dim) along a random axis, stable at 1000."
    return _run("softmax", rng, dim=int(rng.integers(-2, 2)))


@check()
def log_softmax(rng):
    "log_softmax(x, dim) along a random axis, stable at 1000."
    return _run("log_softmax", rng, dim=int(rng.integers(-2, 2)))
