"""Tensor operations against torch: values and gradients of every differentiable operation,
with broadcasting, in float32 and float64, over seeded random inputs."""

import itertools
import math

import numpy as np
import pytest
from torch_reference import DTYPES, assert_close, inputs, run_both, torch

from tinytorch import Tensor, nn

OTHER = np.random.default_rng(11).uniform(0.5, 2.0, (1, 4))  # a broadcast second operand

UNARY = {
    "add": (lambda x, o: x + o, None),
    "sub": (lambda x, o: o - x, None),
    "mul": (lambda x, o: x * o, None),
    "div": (lambda x, o: x / o, None),
    "rdiv": (lambda x, o: o / x, None),
    "neg": (lambda x, o: -x, None),
    "pow2": (lambda x, o: x**2, None),
    "pow3": (lambda x, o: x**3, None),
    "sqrt": (lambda x, o: x.sqrt(), None),
    "exp": (lambda x, o: x.exp(), None),
    "log": (lambda x, o: x.log(), None),
    "abs": (lambda x, o: abs(x), None),
    "clip": (lambda x, o: x.clip(0.8, 1.5), lambda x, o: x.clamp(0.8, 1.5)),
    "sum": (lambda x, o: x.sum(), None),
    "sum-axis": (lambda x, o: x.sum(axis=1, keepdims=True), lambda x, o: x.sum(dim=1, keepdim=True)),
    "mean": (lambda x, o: x.mean(axis=0), lambda x, o: x.mean(dim=0)),
    "max": (lambda x, o: x.max(axis=1), lambda x, o: x.amax(dim=1)),
    "reshape": (lambda x, o: x.reshape(4, 3) * o.reshape(4, 1), lambda x, o: x.reshape(4, 3) * o.reshape(4, 1)),
    "permute": (lambda x, o: x.permute(1, 0), None),
    "transpose": (lambda x, o: x.transpose(0, 1), None),
    "getitem": (lambda x, o: x[1:, ::2], None),
    "matmul": (lambda x, o: x @ o.reshape(4, 1), lambda x, o: x @ o.reshape(4, 1)),
    "flatten": (lambda x, o: x.flatten(), None),
}


def ours_with_other(fn):
    return lambda x: fn(x, Tensor(OTHER.astype(x.dtype)))


def theirs_with_other(fn):
    return lambda x: fn(x, torch.from_numpy(OTHER).to(x.dtype))


@pytest.mark.parametrize("name, dtype", list(itertools.product(UNARY, DTYPES)))
def test_operation(name, dtype):
    ours, theirs = UNARY[name]
    theirs = theirs or ours
    x = np.random.default_rng(len(name)).uniform(0.5, 2.0, (3, 4)).astype(dtype)
    x[0, 0] = x[0, 1]  # a tie, for max
    run_both(ours_with_other(ours), theirs_with_other(theirs), x, name)


def test_max_splits_the_gradient_between_ties_as_torch_amax_does():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], dtype=np.float64)
    run_both(lambda t: t.max(axis=1), lambda t: t.amax(dim=1), x, "max over ties")


def test_default_init_of_linear_has_torchs_bounds():
    """Same distribution (kaiming uniform with a = sqrt(5)), so the same bound, 1 / sqrt(fan_in)."""
    layer, bound = nn.Linear(400, 30), 1 / math.sqrt(400)
    assert bound * 0.95 < np.abs(layer.weight.data).max() <= bound
    assert np.abs(layer.bias.data).max() <= bound


def test_conv2d_init_is_he_uniform_a_deliberate_difference():
    """A deliberate difference: Conv2d starts from He initialisation (kaiming uniform with a = 0, bound
    sqrt(6 / fan_in)) and a zero bias, made for the ReLU networks the course trains; PyTorch uses
    a = sqrt(5) (bound 1 / sqrt(fan_in)) for both."""
    layer, fan_in = nn.Conv2d(16, 8, 3), 16 * 9
    theirs = torch.nn.Conv2d(16, 8, 3)
    assert math.sqrt(6 / fan_in) * 0.95 < np.abs(layer.weight.data).max() <= math.sqrt(6 / fan_in)
    assert theirs.weight.abs().max().item() <= 1 / math.sqrt(fan_in)
    assert not layer.bias.data.any()


def test_no_grad_and_detach_stop_the_graph_as_in_torch():
    from tinytorch.autograd import no_grad

    x, tx = inputs(np.ones(3, dtype=np.float32))
    with no_grad():
        y = x * 2
    with torch.no_grad():
        ty = tx * 2
    assert y.requires_grad == ty.requires_grad is False
    assert (x * 2).detach().requires_grad == (tx * 2).detach().requires_grad is False
    assert_close(y, ty, "value under no_grad")
