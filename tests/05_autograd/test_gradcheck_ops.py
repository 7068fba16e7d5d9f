"""Module 05: every differentiable operation passes gradcheck in float64 on random shapes.

One list of cases, each a function of a seeded random generator that picks its own shapes (with
broadcasting for the binary operations) and returns (function, inputs). Every case runs for several
seeds, so a new operation is tested on many shapes the day it is added to the list. Inputs stay
away from kinks (0 for abs/relu, clip bounds, ties for max) where finite differences are undefined.
"""

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.autograd import gradcheck
from tinytorch.nn import Linear
from tinytorch.nn import functional as act
from tinytorch.nn import functional as losses

pytestmark = pytest.mark.m05

SEEDS = range(3)


def shape(rng, min_ndim=0, max_ndim=3):
    return tuple(int(n) for n in rng.integers(1, 4, size=rng.integers(min_ndim, max_ndim + 1)))


def partner(rng, base):
    """A shape broadcastable against `base`: leading dims dropped, some dims set to 1."""
    kept = base[rng.integers(0, len(base) + 1) :]
    return tuple(1 if rng.random() < 0.4 else n for n in kept)


def leaf(rng, dims, low=-2.0, high=2.0, away_from_zero=False):
    values = rng.uniform(low, high, dims)
    if away_from_zero:
        values = np.sign(rng.uniform(-1, 1, dims)) * rng.uniform(0.2, 2.0, dims)
    return Tensor(values, requires_grad=True, dtype=np.float64)


def distinct(rng, dims):
    """Values without ties (a permutation, spread out), so max has one winner."""
    values = rng.permutation(int(np.prod(dims, dtype=int))).reshape(dims) * 0.37 - 1.0
    return Tensor(values, requires_grad=True, dtype=np.float64)


def binary(op, positive_b=False):
    def make(rng):
        a_shape = shape(rng)
        b_shape = partner(rng, a_shape)
        if rng.random() < 0.5:
            a_shape, b_shape = b_shape, a_shape
        b = leaf(rng, b_shape, 0.5, 2.0) if positive_b else leaf(rng, b_shape)
        return op, [leaf(rng, a_shape), b]

    return make


def unary(op, low=-2.0, high=2.0, away_from_zero=False, min_ndim=0):
    def make(rng):
        return op, [leaf(rng, shape(rng, min_ndim), low, high, away_from_zero)]

    return make


def matmul(a_dims, b_dims, spelled=lambda a, b: a @ b):
    def make(rng):
        return spelled, [leaf(rng, a_dims), leaf(rng, b_dims)]

    return make


def reduction(name, axis, keepdims):
    def make(rng):
        dims = (2, 3, 4)
        x = distinct(rng, dims) if name == "max" else leaf(rng, dims)
        return (lambda x: getattr(x, name)(axis=axis, keepdims=keepdims)), [x]

    return make


def indexing(index):
    def make(rng):
        return (lambda x: x[index]), [leaf(rng, (4, 3))]

    return make


def cross_entropy_case(smoothing, probability_targets=False):
    def make(rng):
        n, c = int(rng.integers(1, 5)), int(rng.integers(2, 5))
        labels = rng.integers(0, c, n)
        targets = rng.dirichlet(np.ones(c), n) if probability_targets else labels
        return (lambda x: losses.cross_entropy(x, targets, label_smoothing=smoothing)), [leaf(rng, (n, c), -3, 3)]

    return make


def binary_loss_case(kind):
    def make(rng):
        dims = shape(rng, 1)
        targets = rng.random(dims)
        if kind == "bce":
            return (lambda p: losses.binary_cross_entropy(p, targets)), [leaf(rng, dims, 0.05, 0.95)]
        if kind == "bce_logits":
            return (lambda x: losses.binary_cross_entropy_with_logits(x, targets)), [leaf(rng, dims, -4, 4)]
        return (lambda a, b: losses.mse_loss(a, b)), [leaf(rng, dims), leaf(rng, dims)]

    return make


def linear_case(rng):
    layer = Linear(3, 2).double()
    x = leaf(rng, (int(rng.integers(1, 4)), 3))
    return (lambda x, w, b: layer(x)), [x, layer.weight, layer.bias]


CASES = {
    # arithmetic with broadcasting, and the reflected forms
    "add": binary(lambda a, b: a + b),
    "sub": binary(lambda a, b: a - b),
    "mul": binary(lambda a, b: a * b),
    "div": binary(lambda a, b: a / b, positive_b=True),
    "neg": unary(lambda a: -a),
    "radd_rsub_rmul_rdiv": unary(lambda a: (2.0 + a) * (3.0 - a) + 1.5 / a, 0.5, 2.0),
    "pow_2": unary(lambda a: a**2),
    "pow_3": unary(lambda a: a**3),
    "pow_half": unary(lambda a: a**0.5, 0.3, 2.0),
    "pow_minus_1": unary(lambda a: a**-1, 0.3, 2.0),
    "pow_1_5": unary(lambda a: a**1.5, 0.3, 2.0),
    # matrix multiply, including vectors and broadcast batches
    "matmul_2d": matmul((3, 4), (4, 2)),
    "matmul_vector_matrix": matmul((4,), (4, 3)),
    "matmul_matrix_vector": matmul((3, 4), (4,)),
    "matmul_vector_vector": matmul((4,), (4,)),
    "matmul_batched": matmul((2, 3, 4), (2, 4, 2)),
    "matmul_broadcast_batch": matmul((2, 1, 3, 4), (3, 4, 2)),
    "matmul_method": matmul((3, 4), (4, 2), spelled=lambda a, b: a.matmul(b)),
    # reductions
    **{
        f"{name}_axis{axis}_keep{int(keep)}": reduction(name, axis, keep)
        for name in ("sum", "mean", "max")
        for axis in (None, 1, -1, (0, 2))
        for keep in (False, True)
    },
    # shapes and indexing
    "reshape": unary(lambda a: a.reshape(-1), min_ndim=1),
    "reshape_2d": (lambda rng: ((lambda x: x.reshape(3, 4)), [leaf(rng, (2, 6))])),
    "transpose": (lambda rng: ((lambda x: x.transpose(0, 2)), [leaf(rng, (2, 3, 4))])),
    "permute": (lambda rng: ((lambda x: x.permute(2, 0, 1)), [leaf(rng, (2, 3, 4))])),
    "T": (lambda rng: ((lambda x: x.T), [leaf(rng, (2, 3, 4))])),
    "flatten": (lambda rng: ((lambda x: x.flatten(1)), [leaf(rng, (2, 3, 4))])),
    "getitem_int": indexing(1),
    "getitem_slice_step": indexing((slice(None, None, -2), slice(1, None))),
    "getitem_repeated_indices": indexing([0, 2, 0, 0]),
    "getitem_pairs": indexing((np.array([0, 3, 0]), np.array([1, 2, 1]))),
    "getitem_bool_mask": indexing(np.array([True, False, True, True])),
    "getitem_none_ellipsis": indexing((None, Ellipsis, 2)),
    # elementwise functions
    "exp": unary(lambda a: a.exp()),
    "log": unary(lambda a: a.log(), 0.2, 3.0),
    "sqrt": unary(lambda a: a.sqrt(), 0.2, 3.0),
    "abs": unary(lambda a: a.abs(), away_from_zero=True),
    "clip_both": unary(lambda a: a.clip(-0.1, 0.1), away_from_zero=True),
    "clip_min": unary(lambda a: a.clip(min=0.1), away_from_zero=True),
    "clip_max": unary(lambda a: a.clip(max=-0.1), away_from_zero=True),
    # module 02: activations
    "relu": unary(act.relu, away_from_zero=True),
    "sigmoid": unary(act.sigmoid, -6, 6),
    "sigmoid_at_0": (lambda rng: (act.sigmoid, [Tensor(np.zeros(3), requires_grad=True, dtype=np.float64)])),
    "softplus": unary(act.softplus, -6, 6),
    "tanh": unary(act.tanh, -3, 3),
    "gelu": unary(act.gelu, -3, 3),
    "softmax_last": unary(lambda a: act.softmax(a), min_ndim=1),
    "softmax_dim0": unary(lambda a: act.softmax(a, dim=0), min_ndim=1),
    "log_softmax_last": unary(lambda a: act.log_softmax(a), min_ndim=1),
    "log_softmax_dim0": unary(lambda a: act.log_softmax(a, dim=0), min_ndim=1),
    # module 03: a Linear layer, with respect to its input, weight and bias
    "linear": linear_case,
    # module 04: losses
    "mse": binary_loss_case("mse"),
    "bce": binary_loss_case("bce"),
    "bce_with_logits": binary_loss_case("bce_logits"),
    "cross_entropy": cross_entropy_case(0.0),
    "cross_entropy_smoothed": cross_entropy_case(0.2),
    "cross_entropy_probabilities": cross_entropy_case(0.1, probability_targets=True),
    # compositions: several ops sharing inputs
    "composite": binary(lambda a, b: ((a * b).exp() + (a - b) ** 2).sum(axis=-1, keepdims=True) / 3.0),
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name, seed):
    rng = np.random.default_rng(1000 * seed + sum(map(ord, name)))
    function, inputs = CASES[name](rng)
    assert gradcheck(function, inputs)
