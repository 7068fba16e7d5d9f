"""What every parity test does: copy weights across, run both frameworks, compare values and gradients.

Tolerances are per dtype: float32 sums in a different order differ in the last bits (relative 1e-5 of
the largest value), float64 agrees to 1e-10.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason='PyTorch is not installed: pip install -e ".[parity]" runs tests/parity')

# The suite compares the whole framework, so a course that has not exported every module yet (a
# student edition) skips it: one file of each module's, the last file each module writes.
for _file in ("tensor", "nn.module", "nn.dropout", "nn.losses", "autograd.install", "optim.adam", "training.trainer",
              "data.transforms", "models.cnn"):  # fmt: skip
    try:
        importlib.import_module(f"tinytorch.{_file}")
    except ImportError:
        pytest.skip("tests/parity compares the whole framework: export every module first", allow_module_level=True)

from tinytorch import Tensor  # noqa: E402 (after the skips: a file that cannot run stops at them)

TOLERANCE = {np.dtype(np.float32): dict(rtol=2e-5, atol=2e-5), np.dtype(np.float64): dict(rtol=1e-10, atol=1e-10)}
DTYPES = (np.float32, np.float64)


def inputs(array: np.ndarray, requires_grad: bool = True) -> tuple[Tensor, torch.Tensor]:
    """The same numbers as a tinytorch Tensor and a torch tensor (each its own copy)."""
    return (
        Tensor(array.copy(), requires_grad=requires_grad),
        torch.tensor(array.copy(), requires_grad=requires_grad),
    )


def assert_close(ours, theirs, what: str = "", scale: float = 1.0, **tolerance) -> None:
    """ours (Tensor or array) equals theirs (torch tensor or array) within the dtype's tolerance."""
    ours = np.asarray(ours.data if isinstance(ours, Tensor) else ours)
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs torch {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} vs torch {theirs.dtype}"
    limits = TOLERANCE.get(ours.dtype, dict(rtol=0, atol=0)) | tolerance
    bound = limits["atol"] * max(1.0, scale, float(np.abs(theirs).max(initial=0.0)))
    np.testing.assert_allclose(ours, theirs, rtol=limits["rtol"], atol=bound, err_msg=what)


def copy_weights(ours, theirs) -> None:
    """Give the torch module the tinytorch module's parameters and buffers (same names, same shapes)."""
    state = ours.state_dict()
    theirs.to(torch.float64 if next(iter(state.values())).dtype == np.float64 else torch.float32)
    with torch.no_grad():
        for name, tensor in [*theirs.named_parameters(), *theirs.named_buffers()]:
            tensor.copy_(torch.from_numpy(np.asarray(state[name])))


def run_both(ours_fn, theirs_fn, array: np.ndarray, what: str, upstream_seed: int = 1, **tolerance) -> None:
    """Forward through both, backward with the same random upstream gradient; compare output and dL/dx."""
    x, tx = inputs(array)
    out, tout = ours_fn(x), theirs_fn(tx)
    assert_close(out, tout, f"{what}: forward", **tolerance)
    upstream = np.random.default_rng(upstream_seed).standard_normal(tout.shape).astype(array.dtype)
    (out * Tensor(upstream)).sum().backward()
    (tout * torch.from_numpy(upstream)).sum().backward()
    assert_close(x.grad, tx.grad, f"{what}: gradient", **tolerance)


def compare_parameter_grads(ours, theirs, what: str) -> None:
    grads = {name: p.grad for name, p in theirs.named_parameters()}
    for name, p in ours.named_parameters():
        assert_close(p.grad, grads[name], f"{what}: d/d {name}")
