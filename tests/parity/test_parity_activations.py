"""Activations against torch.nn: values and input gradients, float32 and float64, over a grid of shapes.

Inputs include exact zeros (where ReLU's derivative is decided by convention) and values of +-30
(saturation).
"""

import itertools

import numpy as np
import pytest
from torch_reference import DTYPES, run_both, torch

from tinytorch import nn

SHAPES = [(7,), (4, 9), (2, 3, 5)]

LAYERS = {
    "ReLU": (lambda: nn.ReLU(), lambda: torch.nn.ReLU()),
    "Sigmoid": (lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid()),
    "Tanh": (lambda: nn.Tanh(), lambda: torch.nn.Tanh()),
    "GELU": (lambda: nn.GELU(), lambda: torch.nn.GELU()),
    "GELU-tanh": (lambda: nn.GELU(approximate="tanh"), lambda: torch.nn.GELU(approximate="tanh")),
    "Softmax": (lambda: nn.Softmax(dim=-1), lambda: torch.nn.Softmax(dim=-1)),
    "Softmax-dim0": (lambda: nn.Softmax(dim=0), lambda: torch.nn.Softmax(dim=0)),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=-1), lambda: torch.nn.LogSoftmax(dim=-1)),
}


def grid(shape, dtype, seed):
    """Normal values times 3, with every third entry exactly 0 and the first two at -30 and 30."""
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    flat = x.reshape(-1)
    flat[::3] = 0.0
    flat[:2] = (-30.0, 30.0)[: flat.size]
    return x.astype(dtype)


@pytest.mark.parametrize(
    "name, shape, dtype", list(itertools.product(LAYERS, SHAPES, DTYPES)), ids=lambda v: getattr(v, "__name__", str(v))
)
def test_activation(name, shape, dtype):
    ours, theirs = (make() for make in LAYERS[name])
    # A deliberate difference: GELU's Phi comes from a polynomial within 7.5e-8 of the true value
    # (Abramowitz and Stegun 26.2.17: NumPy has no erf). That is below float32's resolution, so float32
    # is compared at the usual tolerance; in float64, values and gradients agree to 1e-6.
    tolerance = dict(rtol=1e-6, atol=1e-6) if name == "GELU" and dtype == np.float64 else {}
    run_both(ours, theirs, grid(shape, dtype, seed=len(shape)), f"{name} {shape} {np.dtype(dtype)}", **tolerance)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus(dtype):
    run_both(nn.functional.softplus, torch.nn.functional.softplus, grid((5, 6), dtype, seed=3), "softplus")
